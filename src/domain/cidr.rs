//! Address ranges written as `127.0.0.1/32` or `10.0.0.0/8` (IPv4 or IPv6), for
//! configuration keys that allow by address (`metrics.allow`).

use std::net::IpAddr;

/// One range: an address and how many leading bits of it must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `addr/prefix`, or a bare address (the one address).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: IpAddr =
            addr.parse().map_err(|_| format!("{text:?} is not an address range such as 127.0.0.1/32"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n) as u128, 32, self.prefix) == masked(u32::from(a) as u128, 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { bits >> (width - prefix) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_their_addresses_only() {
        let local = Cidr::parse("127.0.0.1/32").unwrap();
        assert!(local.contains("127.0.0.1".parse().unwrap()));
        assert!(local.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!local.contains("127.0.0.2".parse().unwrap()));
        let lan = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(lan.contains("10.20.30.40".parse().unwrap()));
        assert!(!lan.contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("localhost").is_err());
    }
}

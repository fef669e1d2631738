//! Rate limits: requests per minute per user (or per client address), login failures
//! per username and per address, and a daily quota (LLM requests) that resets at
//! midnight in the scheduler's time zone.
//!
//! Small fixed windows in a mutex-guarded map: the numbers are per team, not per
//! internet, and each check is a hash lookup. Old keys are swept as the map grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};

/// Keys kept before old windows are swept out.
const SWEEP_AT: usize = 10_000;

/// Whom a request counts against: a user, or an address when nobody is logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    User(u64),
    Address(std::net::IpAddr),
    Unknown,
}

/// At most `limit` requests per key in each minute (0: no limit).
///
/// Servers sharing a database count together: each publishes its counts about once a
/// second and takes the others' (`counts`, `count_elsewhere`), which a check adds to
/// its own. A key may so pass the limit by what the servers take in that second.
pub struct PerMinute<K> {
    limit: u32,
    windows: Mutex<HashMap<K, (Instant, u32)>>,
    /// The same keys' requests on the other servers, in their current windows.
    elsewhere: Mutex<HashMap<K, u32>>,
}

impl<K: std::hash::Hash + Eq + Copy> PerMinute<K> {
    pub fn new(limit: u32) -> PerMinute<K> {
        PerMinute { limit, windows: Mutex::new(HashMap::new()), elsewhere: Mutex::new(HashMap::new()) }
    }

    /// This server's count of each key whose window is still open at `now`.
    pub fn counts(&self, now: Instant) -> Vec<(K, u32)> {
        let Ok(windows) = self.windows.lock() else { return Vec::new() };
        windows
            .iter()
            .filter(|(_, (start, _))| now.duration_since(*start) < WINDOW)
            .map(|(k, (_, n))| (*k, *n))
            .collect()
    }

    /// The other servers' counts, replacing the previous ones.
    pub fn count_elsewhere(&self, counts: HashMap<K, u32>) {
        if let Ok(mut elsewhere) = self.elsewhere.lock() {
            *elsewhere = counts;
        }
    }

    /// Counts a request; `Err(wait)` when the key is over its limit for `wait` more.
    pub fn check(&self, key: K, now: Instant) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        let Ok(mut windows) = self.windows.lock() else { return Ok(()) };
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        let elsewhere = self.elsewhere.lock().ok().and_then(|e| e.get(&key).copied()).unwrap_or(0);
        if count.saturating_add(elsewhere) >= self.limit {
            return Err(WINDOW.saturating_sub(now.duration_since(*start)));
        }
        *count += 1;
        Ok(())
    }
}

const WINDOW: Duration = Duration::from_secs(60);

/// Failed logins per key: after `slow_after` failures each further attempt waits a
/// little longer; after `lock_after` the key is locked, for `first_lock` and twice as
/// long at each lock after that, up to [`LOCK_FOR`]. A success clears the key.
///
/// Two are kept: per account (a few failures lock that account only) and per address
/// (a much higher threshold, so one person's typos behind an office's shared address
/// do not lock everybody out, while a guesser trying many accounts still is).
pub struct LoginFailures {
    entries: Mutex<HashMap<String, Failures>>,
    slow_after: u32,
    lock_after: u32,
    first_lock: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
    /// Locks so far (for the backoff).
    locks: u32,
}

/// Per account: slow down after 3 failures, lock after 8.
pub const SLOW_AFTER: u32 = 3;
pub const LOCK_AFTER: u32 = 8;
/// Per address: slow down after 30 failures, lock after 100.
pub const ADDRESS_SLOW_AFTER: u32 = 30;
pub const ADDRESS_LOCK_AFTER: u32 = 100;
/// The longest lock.
pub const LOCK_FOR: Duration = Duration::from_secs(15 * 60);
/// An account's first lock; each further one doubles it.
pub const FIRST_ACCOUNT_LOCK: Duration = Duration::from_secs(60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// What a login attempt for a key must do first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Wait this long before answering (slows down guessing).
    Wait(Duration),
    /// Refuse for this long (429 with Retry-After).
    Locked(Duration),
}

impl LoginFailures {
    /// Failures of one account (keyed by username).
    pub fn per_account() -> Self {
        Self::new(SLOW_AFTER, LOCK_AFTER, FIRST_ACCOUNT_LOCK)
    }

    /// Failures from one address, whatever the account.
    pub fn per_address() -> Self {
        Self::new(ADDRESS_SLOW_AFTER, ADDRESS_LOCK_AFTER, LOCK_FOR)
    }

    fn new(slow_after: u32, lock_after: u32, first_lock: Duration) -> Self {
        LoginFailures { entries: Mutex::new(HashMap::new()), slow_after, lock_after, first_lock }
    }

    /// What an attempt for `keys` must do: the strictest of them.
    pub fn gate(&self, keys: &[&str], now: Instant) -> Gate {
        let Ok(entries) = self.entries.lock() else { return Gate::Go };
        let mut gate = Gate::Go;
        for key in keys {
            let Some(f) = entries.get(*key) else { continue };
            if let Some(until) = f.locked_until
                && until > now
            {
                return Gate::Locked(until - now);
            }
            if f.locked_until.is_some() {
                continue; // a lock that ran out starts the count afresh
            }
            if now.duration_since(f.last) < FORGET_AFTER && f.count >= self.slow_after {
                let wait =
                    Duration::from_millis(250 * u64::from(f.count - self.slow_after + 1)).min(Duration::from_secs(2));
                gate = match gate {
                    Gate::Wait(w) if w >= wait => gate,
                    _ => Gate::Wait(wait),
                };
            }
        }
        gate
    }

    /// Records a failure for each key.
    pub fn failed(&self, keys: &[&str], now: Instant) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER || f.locked_until.is_some_and(|u| u > now));
        }
        for key in keys {
            let f = entries.entry(key.to_string()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
                locks: 0,
            });
            if now.duration_since(f.last) >= FORGET_AFTER && f.locked_until.is_none_or(|u| u <= now) {
                *f = Failures { count: 0, last: now, locked_until: None, locks: 0 };
            }
            if f.locked_until.is_some_and(|u| u <= now) {
                // A lock that ran out: the next lock comes after as many failures again.
                f.count = 0;
                f.locked_until = None;
            }
            f.count += 1;
            f.last = now;
            if f.count >= self.lock_after {
                let lock = self.first_lock.saturating_mul(1 << f.locks.min(10)).min(LOCK_FOR);
                f.locked_until = Some(now + lock);
                f.locks += 1;
            }
        }
    }

    /// A successful login clears its username (not the address: one account's success
    /// says nothing about the guesses made from there for others).
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

/// At most `limit` uses per key per calendar day in `tz`.
pub struct PerDay {
    limit: u32,
    tz: chrono_tz::Tz,
    used: Mutex<HashMap<String, (NaiveDate, u32)>>,
}

impl PerDay {
    pub fn new(limit: u32, tz: chrono_tz::Tz) -> PerDay {
        PerDay { limit, tz, used: Mutex::new(HashMap::new()) }
    }

    /// Counts a use; `Err(seconds until midnight in tz)` when the day's quota is spent.
    pub fn take(&self, key: &str, now: DateTime<Utc>) -> Result<u32, Duration> {
        let today = now.with_timezone(&self.tz).date_naive();
        let Ok(mut used) = self.used.lock() else { return Ok(0) };
        let (day, count) = used.entry(key.to_string()).or_insert((today, 0));
        if *day != today {
            *day = today;
            *count = 0;
        }
        if *count >= self.limit {
            return Err(self.until_midnight(now));
        }
        *count += 1;
        Ok(self.limit - *count)
    }

    fn until_midnight(&self, now: DateTime<Utc>) -> Duration {
        let local = now.with_timezone(&self.tz);
        let next = local.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0));
        let next = next.and_then(|n| n.and_local_timezone(self.tz).earliest());
        next.map(|n| (n.with_timezone(&Utc) - now).to_std().unwrap_or_default()).unwrap_or(Duration::from_secs(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_minute_refuses_past_the_limit_then_lets_through_next_minute() {
        let limiter = PerMinute::<&str>::new(3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("u1", t0).is_ok());
        }
        let wait = limiter.check("u1", t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(limiter.check("u2", t0).is_ok(), "keys are counted apart");
        assert!(limiter.check("u1", t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn an_account_slows_down_then_locks_with_backoff() {
        let f = LoginFailures::per_account();
        let t0 = Instant::now();
        for _ in 0..SLOW_AFTER {
            assert_eq!(f.gate(&["anna"], t0), Gate::Go);
            f.failed(&["anna"], t0);
        }
        assert_eq!(f.gate(&["anna"], t0), Gate::Wait(Duration::from_millis(250)));
        for _ in SLOW_AFTER..LOCK_AFTER {
            f.failed(&["anna"], t0);
        }
        assert_eq!(f.gate(&["anna"], t0), Gate::Locked(FIRST_ACCOUNT_LOCK));
        assert_eq!(f.gate(&["bob"], t0), Gate::Go, "another account is not locked");
        // After the first lock, as many failures again lock it twice as long.
        let t1 = t0 + FIRST_ACCOUNT_LOCK + Duration::from_secs(1);
        assert_eq!(f.gate(&["anna"], t1), Gate::Go);
        for _ in 0..LOCK_AFTER {
            f.failed(&["anna"], t1);
        }
        assert_eq!(f.gate(&["anna"], t1), Gate::Locked(FIRST_ACCOUNT_LOCK * 2));
        f.succeeded("anna");
        assert_eq!(f.gate(&["anna"], t1), Gate::Go);
    }

    #[test]
    fn an_address_locks_only_at_a_much_higher_threshold() {
        let f = LoginFailures::per_address();
        let t0 = Instant::now();
        // A whole office's typos behind one address.
        for _ in 0..ADDRESS_SLOW_AFTER {
            f.failed(&["1.2.3.4"], t0);
        }
        assert!(matches!(f.gate(&["1.2.3.4"], t0), Gate::Wait(_)));
        for _ in ADDRESS_SLOW_AFTER..ADDRESS_LOCK_AFTER {
            f.failed(&["1.2.3.4"], t0);
        }
        assert_eq!(f.gate(&["1.2.3.4"], t0), Gate::Locked(LOCK_FOR));
        assert_eq!(f.gate(&["5.6.7.8"], t0), Gate::Go);
    }

    #[test]
    fn the_daily_quota_resets_at_midnight_in_the_time_zone() {
        let q = PerDay::new(2, chrono_tz::Europe::Moscow);
        // 20:30 UTC is 23:30 in Moscow.
        let late = DateTime::parse_from_rfc3339("2026-11-22T20:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(q.take("anna", late), Ok(1));
        assert_eq!(q.take("anna", late), Ok(0));
        assert_eq!(q.take("anna", late), Err(Duration::from_secs(30 * 60)));
        // 21:00 UTC is midnight in Moscow: a new day there, still the same day in UTC.
        let midnight = DateTime::parse_from_rfc3339("2026-11-22T21:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(q.take("anna", midnight), Ok(1));
    }
}

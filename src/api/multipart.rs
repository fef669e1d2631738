//! `multipart/form-data` bodies, read with multer (the parser warp itself uses) so that
//! a part's raw headers stay in reach: warp's own `Part` gives only the file name as
//! multer's strict parser read it, which cuts `filename="q"uote.txt"` (a raw quote, as
//! some clients send it) to `q`. [`filename_of`] reads the name as clients write it.

use futures_util::TryStreamExt;
use warp::Filter;
use warp::filters::BoxedFilter;

/// The body of a request whose `Content-Type` is `multipart/form-data` with a
/// boundary, as a stream of parts; any other request is not matched here (so that a
/// raw upload on the same path reaches its own route).
pub fn form(limit: u64) -> BoxedFilter<(multer::Multipart<'static>,)> {
    warp::header::<String>("content-type")
        .and_then(|content_type: String| async move {
            let is_form = content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data");
            match multer::parse_boundary(&content_type) {
                Ok(boundary) if is_form => Ok(boundary),
                _ => Err(warp::reject::reject()),
            }
        })
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::stream())
        .map(|boundary: String, body| {
            let chunks = futures_util::StreamExt::map(body, |chunk: Result<_, warp::Error>| {
                chunk.map(|mut buf| {
                    let len = bytes::Buf::remaining(&buf);
                    bytes::Buf::copy_to_bytes(&mut buf, len)
                })
            });
            multer::Multipart::new(chunks.map_err(std::io::Error::other), boundary)
        })
        .boxed()
}

/// The file name a part's `Content-Disposition` gives: `filename*=UTF-8''…` (RFC 6266,
/// percent-encoded) when present, else `filename="…"` read up to its closing quote
/// (the last quote before the end or before the next `; name=`), so a raw `"` inside
/// the name stays part of it; `\"` and `\\` are unescaped as a quoted string means.
pub fn filename_of(disposition: &str) -> Option<String> {
    let params = parameter_starts(disposition);
    if let Some(&(_, value_at)) = params.iter().find(|(name, _)| name.eq_ignore_ascii_case("filename*")) {
        let value = disposition[value_at..].split(';').next().unwrap_or("").trim();
        let (charset, rest) = value.split_once('\'')?;
        let encoded = rest.split_once('\'').map(|(_, e)| e)?;
        if let Some(name) = percent_decode(encoded).filter(|_| charset.eq_ignore_ascii_case("utf-8")) {
            return Some(name);
        }
    }
    let index = params.iter().position(|(name, _)| name.eq_ignore_ascii_case("filename"))?;
    let value_at = params[index].1;
    // The value runs up to where the next parameter begins (or the end).
    let end =
        params.get(index + 1).map(|(name, _)| name_start(disposition, value_at, name)).unwrap_or(disposition.len());
    let raw = disposition[value_at..end].trim_end().trim_end_matches(';').trim();
    match raw.strip_prefix('"') {
        Some(quoted) => {
            let inner = quoted.strip_suffix('"').unwrap_or(quoted);
            let mut name = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(next @ ('"' | '\\')) => name.push(next),
                        Some(other) => {
                            name.push('\\');
                            name.push(other);
                        }
                        None => name.push('\\'),
                    },
                    c => name.push(c),
                }
            }
            Some(name)
        }
        None => Some(raw.to_string()),
    }
}

/// Each `; name=` of the header: the name and where its value begins. A `; x=` inside
/// a quoted file name ("a; b=c.txt") would be taken for a parameter and cut the name
/// there; no client we know writes one, and the name's own `;` alone is kept.
fn parameter_starts(header: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (at, _) in header.match_indices(';') {
        let rest = &header[at + 1..];
        let trimmed = rest.trim_start();
        let name_len = trimmed.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*'));
        let Some(len) = name_len.filter(|n| *n > 0) else { continue };
        if trimmed[len..].starts_with('=') {
            let value_at = at + 1 + (rest.len() - trimmed.len()) + len + 1;
            found.push((trimmed[..len].to_string(), value_at));
        }
    }
    found
}

/// Where the parameter `name` that begins after `from` starts (its `;`).
fn name_start(header: &str, from: usize, name: &str) -> usize {
    let mut at = from;
    while let Some(offset) = header[at..].find(';') {
        let semicolon = at + offset;
        if header[semicolon + 1..].trim_start().starts_with(name) {
            return semicolon;
        }
        at = semicolon + 1;
    }
    header.len()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::filename_of;

    #[test]
    fn a_plain_quoted_name() {
        assert_eq!(filename_of(r#"form-data; name="file"; filename="report.pdf""#).as_deref(), Some("report.pdf"));
    }

    #[test]
    fn a_raw_quote_inside_the_name_stays() {
        assert_eq!(filename_of(r#"form-data; name="file"; filename="q"uote.txt""#).as_deref(), Some("q\"uote.txt"));
    }

    #[test]
    fn an_escaped_quote_is_unescaped() {
        assert_eq!(filename_of(r#"form-data; name="file"; filename="q\"uote.txt""#).as_deref(), Some("q\"uote.txt"));
    }

    #[test]
    fn a_parameter_after_the_name_is_not_part_of_it() {
        assert_eq!(filename_of(r#"form-data; filename="a.txt"; name="file""#).as_deref(), Some("a.txt"));
    }

    #[test]
    fn the_extended_form_wins_and_is_decoded() {
        assert_eq!(
            filename_of(
                r#"form-data; name="file"; filename="x.txt"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.txt"#
            )
            .as_deref(),
            Some("отчёт.txt")
        );
    }

    #[test]
    fn an_unquoted_name_and_none() {
        assert_eq!(filename_of("form-data; name=file; filename=plain.txt").as_deref(), Some("plain.txt"));
        assert_eq!(filename_of(r#"form-data; name="title""#), None);
    }
}

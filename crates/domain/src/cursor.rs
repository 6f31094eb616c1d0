//! Pull cursors: opaque, URL-safe positions in a tenant's committed event sequence.

use crate::time::Timestamp;

/// Position in a tenant's event sequence: the `seq` of the last event a client has seen
/// (0 = before the first event). Sequence numbers are per tenant, gap-free and in commit
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub i64);

/// Prefix of every cursor we issue; distinguishes them from ISO timestamps.
const PREFIX: &str = "c1.";

/// A decoded pull cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub Seq);

impl Cursor {
    /// Encodes as `c1.<base36 seq>`: only `[a-z0-9.]`, so it survives being put in a query
    /// string without URL encoding (as the legacy client does).
    pub fn encode(self) -> String {
        let mut n = self.0 .0.max(0) as u64;
        let mut digits = Vec::new();
        loop {
            let d = (n % 36) as u8;
            digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
            n /= 36;
            if n == 0 {
                break;
            }
        }
        digits.reverse();
        format!("{PREFIX}{}", String::from_utf8_lossy(&digits))
    }

    /// Decodes a cursor produced by [`Cursor::encode`]; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let body = text.strip_prefix(PREFIX)?;
        if body.is_empty() || body.len() > 13 || (body.len() > 1 && body.starts_with('0')) {
            return None;
        }
        let mut n: i64 = 0;
        for c in body.bytes() {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'z' => c - b'a' + 10,
                _ => return None,
            };
            n = n.checked_mul(36)?.checked_add(i64::from(d))?;
        }
        Some(Cursor(Seq(n)))
    }
}

/// What a client sent as `since` (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Empty or absent: from the first event.
    Start,
    /// A cursor we issued: strictly after that position.
    After(Seq),
    /// A legacy ISO timestamp: from the first committed event whose client timestamp is
    /// at or after it.
    Timestamp(Timestamp),
}

/// `since` is neither empty, nor a cursor we issued, nor an ISO-8601 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("since must be empty, a cursor returned by this server, or an ISO-8601 timestamp")]
pub struct InvalidSince;

impl Since {
    /// Parses the `since` query parameter.
    ///
    /// # Errors
    /// [`InvalidSince`] when the text is none of the three accepted forms.
    pub fn parse(text: Option<&str>) -> Result<Self, InvalidSince> {
        let text = text.map(str::trim).unwrap_or("");
        if text.is_empty() || text == "null" || text == "undefined" {
            return Ok(Since::Start);
        }
        if let Some(c) = Cursor::decode(text) {
            return Ok(Since::After(c.0));
        }
        // A `+` offset arrives as a space when the client did not URL-encode it.
        let repaired = text.replace(' ', "+");
        Timestamp::parse(&repaired)
            .map(Since::Timestamp)
            .ok_or(InvalidSince)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn cursor_round_trips_and_is_url_safe(n in 0i64..i64::MAX) {
            let text = Cursor(Seq(n)).encode();
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)));
            prop_assert_eq!(Cursor::decode(&text), Some(Cursor(Seq(n))));
            prop_assert_eq!(Since::parse(Some(&text)), Ok(Since::After(Seq(n))));
        }

        #[test]
        fn since_parse_never_panics(s in ".{0,80}") {
            let _ = Since::parse(Some(&s));
        }
    }

    #[test]
    fn since_forms() {
        assert_eq!(Since::parse(None), Ok(Since::Start));
        assert_eq!(Since::parse(Some("")), Ok(Since::Start));
        assert_eq!(
            Since::parse(Some("2023-02-01T00:00:00.000Z")),
            Ok(Since::Timestamp(
                Timestamp::parse("2023-02-01T00:00:00Z").unwrap()
            ))
        );
        assert_eq!(
            Since::parse(Some("2023-02-01T02:00:00 02:00")),
            Ok(Since::Timestamp(
                Timestamp::parse("2023-02-01T00:00:00Z").unwrap()
            ))
        );
        assert_eq!(
            Since::parse(Some("c1.zz")),
            Ok(Since::After(Seq(36 * 35 + 35)))
        );
        for bad in [
            "c1.",
            "c1.0a",
            "c1.A",
            "c2.1",
            "garbage",
            "c1.zzzzzzzzzzzzzz",
        ] {
            assert_eq!(Since::parse(Some(bad)), Err(InvalidSince), "{bad}");
        }
    }
}

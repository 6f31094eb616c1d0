//! UTC instants with millisecond precision, as events and entities carry them.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An instant in UTC, truncated to whole milliseconds since the Unix epoch.
///
/// Parsed from RFC 3339 / ISO-8601 text (any offset, any fraction length) and always
/// rendered as `YYYY-MM-DDTHH:MM:SS.sssZ`, the form upstream clients store and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Earliest accepted instant: 0001-01-01T00:00:00.000Z.
const MIN_MILLIS: i64 = -62_135_596_800_000;
/// Latest accepted instant: 9999-12-31T23:59:59.999Z.
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// Builds a timestamp from milliseconds since the Unix epoch; `None` outside years 1–9999.
    pub fn from_millis(ms: i64) -> Option<Self> {
        (MIN_MILLIS..=MAX_MILLIS)
            .contains(&ms)
            .then_some(Timestamp(ms))
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 instant (`2024-01-15T10:30:00Z`, `…+02:00`, any fraction), a
    /// date-time without offset (taken as UTC, as PostgreSQL does for upstream) or a bare
    /// date `YYYY-MM-DD` (midnight UTC). Sub-millisecond digits are truncated.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || text.len() > 64 {
            return None;
        }
        let parsed = DateTime::parse_from_rfc3339(text)
            .map(|d| d.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|n| Utc.from_utc_datetime(&n))
            })
            .or_else(|_| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()))
            })
            .ok()?;
        Self::from_millis(parsed.timestamp_millis())
    }

    /// Converts a chrono instant (truncating to milliseconds).
    pub fn from_datetime(dt: DateTime<Utc>) -> Option<Self> {
        Self::from_millis(dt.timestamp_millis())
    }

    /// The chrono form of this instant.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// Renders as `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub fn to_iso(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// Described in OpenAPI documents as an RFC 3339 `date-time` string, its wire form.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Default for Timestamp {
    fn default() -> Self {
        Timestamp::EPOCH
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).ok_or_else(|| serde::de::Error::custom("invalid timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_offsets_and_fractions() {
        let t = Timestamp::parse("2024-01-15T12:30:00.123456+02:00").unwrap();
        assert_eq!(t.to_iso(), "2024-01-15T10:30:00.123Z");
        assert_eq!(
            Timestamp::parse("2024-01-15T10:30:00Z").unwrap().to_iso(),
            "2024-01-15T10:30:00.000Z"
        );
        assert_eq!(
            Timestamp::parse("2024-01-15").unwrap().to_iso(),
            "2024-01-15T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::parse("2024-01-15T10:30:00").unwrap().to_iso(),
            "2024-01-15T10:30:00.000Z"
        );
    }

    #[test]
    fn rejects_garbage_and_impossible_dates() {
        for bad in [
            "",
            "yesterday",
            "2023-02-30T00:00:00Z",
            "2024-13-01",
            "12345",
            "2024-01-15T25:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn round_trips_through_iso() {
        for ms in [0, 1, -1, 1_700_000_000_123, MAX_MILLIS, MIN_MILLIS] {
            let t = Timestamp::from_millis(ms).unwrap();
            assert_eq!(Timestamp::parse(&t.to_iso()), Some(t));
        }
        assert!(Timestamp::from_millis(MAX_MILLIS + 1).is_none());
    }
}

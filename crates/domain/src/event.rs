//! Events (wire name `FormSubmission`): the immutable facts devices record and the server relays.

use crate::canonical::{canonical_json, canonical_json_object};
use crate::digest::length_prefixed_sha256;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Maximum length of `guid` and `entityGuid`, in characters.
pub const MAX_GUID_CHARS: usize = 128;
/// Maximum length of `type`, in characters.
pub const MAX_TYPE_CHARS: usize = 64;
/// Maximum size of `data`, serialized, in bytes.
pub const MAX_DATA_BYTES: usize = 256 * 1024;
/// Maximum length of `data.entityName` (the entity form's name), in characters. Not in SPEC
/// §3.1: the form name is indexed with the entities, and a database rejects an index entry
/// past a few KiB (PostgreSQL: 2,704 bytes), which would fail the event's application — on
/// PostgreSQL after it was stored, blocking every later push of the tenant.
pub const MAX_ENTITY_NAME_CHARS: usize = 128;

/// How far an event has travelled: 0 local, 1 on the server, 2 from/to an external system.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct SyncLevel(pub u8);

impl SyncLevel {
    /// Created on a device (or by the server itself) and not yet synced.
    pub const LOCAL: SyncLevel = SyncLevel(0);
    /// Has reached the sync server (every pushed event is stored with this level).
    pub const REMOTE: SyncLevel = SyncLevel(1);
    /// Came from, or went to, an external system.
    pub const EXTERNAL: SyncLevel = SyncLevel(2);
}

/// Who recorded an event, as the client wrote it: a string or a number.
///
/// For content comparison `1` and `"1"` are the same author ([`UserRef::canonical`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum UserRef {
    /// A textual user id, such as `"admin"`.
    Text(String),
    /// A numeric user id, such as the server's integer user ids.
    #[schema(value_type = f64)]
    Number(serde_json::Number),
}

impl UserRef {
    /// The text form used for comparison and storage: numbers in canonical JSON form.
    pub fn canonical(&self) -> String {
        match self {
            UserRef::Text(s) => s.clone(),
            UserRef::Number(n) => canonical_json(&Value::Number(n.clone())),
        }
    }

    /// Rebuilds a user ref from its stored text and whether it was numeric.
    pub fn from_stored(text: &str, numeric: bool) -> Self {
        if numeric {
            if let Ok(Value::Number(n)) = serde_json::from_str::<Value>(text) {
                return UserRef::Number(n);
            }
        }
        UserRef::Text(text.to_owned())
    }

    /// Whether the client sent a number.
    pub fn is_numeric(&self) -> bool {
        matches!(self, UserRef::Number(_))
    }
}

/// A validated event. Immutable once accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Event id, unique within a tenant.
    pub guid: String,
    /// The entity the event is about.
    pub entity_guid: String,
    /// Event type, e.g. `create-individual`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Payload: a non-empty JSON object.
    pub data: Map<String, Value>,
    /// Client creation time.
    pub timestamp: Timestamp,
    /// Author as written by the client.
    pub user_id: UserRef,
    /// Travel level as stored.
    pub sync_level: SyncLevel,
}

/// The total order in which events are applied to entities: `(timestamp, guid)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventKey {
    /// Client timestamp of the event.
    pub timestamp: Timestamp,
    /// Event guid, the tie-breaker for equal timestamps.
    pub guid: String,
}

impl Event {
    /// The event's position in the application order.
    pub fn key(&self) -> EventKey {
        EventKey {
            timestamp: self.timestamp,
            guid: self.guid.clone(),
        }
    }

    /// Hash of the event's content: `entityGuid`, `type`, canonical `data`, normalized
    /// `timestamp` and canonical `userId` — never `syncLevel` or unknown fields. Two pushes
    /// of the same guid are the same event exactly when their hashes are equal.
    pub fn content_hash(&self) -> ContentHash {
        ContentHash(length_prefixed_sha256([
            self.entity_guid.as_str(),
            self.event_type.as_str(),
            &canonical_json_object(&self.data),
            &self.timestamp.to_iso(),
            &self.user_id.canonical(),
        ]))
    }
}

/// Lower-case hex SHA-256 of an event's content (see [`Event::content_hash`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(pub String);

/// Why an event was rejected; one code per validation rule of SPEC §3.1, plus the push-time
/// conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectCode {
    /// The event is not a JSON object.
    EventNotObject,
    /// `guid` missing, not a string, empty or longer than 128 characters.
    InvalidGuid,
    /// `entityGuid` missing, not a string, empty or longer than 128 characters.
    InvalidEntityGuid,
    /// `type` missing, empty, longer than 64 characters or not `^[a-z0-9][a-z0-9._-]*$`.
    InvalidType,
    /// `data` missing, not an object, an empty object, holding a NUL character, or with a
    /// `data.entityName` longer than 128 characters.
    InvalidData,
    /// `data` serializes to more than 256 KiB.
    DataTooLarge,
    /// `timestamp` missing or not an RFC 3339 / ISO-8601 instant.
    InvalidTimestamp,
    /// `userId` missing, empty, or neither a string nor a number.
    InvalidUserId,
    /// `syncLevel` present but not 0, 1 or 2.
    InvalidSyncLevel,
    /// The guid is already stored in the tenant with different content.
    EventGuidConflict,
}

impl RejectCode {
    /// The wire code, e.g. `INVALID_GUID`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::EventNotObject => "EVENT_NOT_OBJECT",
            RejectCode::InvalidGuid => "INVALID_GUID",
            RejectCode::InvalidEntityGuid => "INVALID_ENTITY_GUID",
            RejectCode::InvalidType => "INVALID_TYPE",
            RejectCode::InvalidData => "INVALID_DATA",
            RejectCode::DataTooLarge => "DATA_TOO_LARGE",
            RejectCode::InvalidTimestamp => "INVALID_TIMESTAMP",
            RejectCode::InvalidUserId => "INVALID_USER_ID",
            RejectCode::InvalidSyncLevel => "INVALID_SYNC_LEVEL",
            RejectCode::EventGuidConflict => "EVENT_GUID_CONFLICT",
        }
    }

    /// Parses a wire code back (for stored quarantine rows).
    pub fn parse(code: &str) -> Option<Self> {
        use RejectCode::*;
        [
            EventNotObject,
            InvalidGuid,
            InvalidEntityGuid,
            InvalidType,
            InvalidData,
            DataTooLarge,
            InvalidTimestamp,
            InvalidUserId,
            InvalidSyncLevel,
            EventGuidConflict,
        ]
        .into_iter()
        .find(|c| c.as_str() == code)
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A per-event rejection: which event (if its guid could be read), why, and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejection {
    /// The event's guid when it is a non-empty string, else `None`.
    pub guid: Option<String>,
    /// The rule that failed.
    pub code: RejectCode,
    /// Human-readable reason.
    pub error: String,
}

fn reject(raw: &Value, code: RejectCode, error: &str) -> Rejection {
    let guid = raw
        .get("guid")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .map(|g| g.chars().take(MAX_GUID_CHARS).collect());
    Rejection {
        guid,
        code,
        error: error.to_owned(),
    }
}

fn guid_field(raw: &Value, key: &str) -> Option<String> {
    let s = raw.get(key)?.as_str()?;
    (!s.is_empty() && !s.contains('\0') && s.chars().count() <= MAX_GUID_CHARS)
        .then(|| s.to_owned())
}

fn valid_type(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && t.chars().count() <= MAX_TYPE_CHARS
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// Whether `data.entityName`, or the `entityName` of an inline member (`data.members`, at
/// any depth: appliers create entities from them, with that form name), is longer than
/// [`MAX_ENTITY_NAME_CHARS`].
fn holds_long_entity_name(data: &Map<String, Value>) -> bool {
    let too_long = |object: &Map<String, Value>| {
        object
            .get("entityName")
            .and_then(Value::as_str)
            .is_some_and(|name| name.chars().count() > MAX_ENTITY_NAME_CHARS)
    };
    if too_long(data) {
        return true;
    }
    let mut stack: Vec<&Value> = data.get("members").into_iter().collect();
    while let Some(members) = stack.pop() {
        for member in members.as_array().into_iter().flatten() {
            if let Some(member) = member.as_object() {
                if too_long(member) {
                    return true;
                }
                stack.extend(member.get("members"));
            }
        }
    }
    false
}

/// Validates one raw event of a push (SPEC §3.1). Unknown extra fields are ignored;
/// `syncLevel` is read when present (0–2) and defaults to 0. Never panics.
///
/// # Errors
/// A [`Rejection`] naming the first rule that failed.
pub fn validate_event(raw: &Value) -> Result<Event, Rejection> {
    if !raw.is_object() {
        return Err(reject(
            raw,
            RejectCode::EventNotObject,
            "event must be a JSON object",
        ));
    }
    let guid = guid_field(raw, "guid").ok_or_else(|| {
        reject(
            raw,
            RejectCode::InvalidGuid,
            "guid must be a non-empty string of at most 128 characters",
        )
    })?;
    let entity_guid = guid_field(raw, "entityGuid").ok_or_else(|| {
        reject(
            raw,
            RejectCode::InvalidEntityGuid,
            "entityGuid must be a non-empty string of at most 128 characters",
        )
    })?;
    let event_type = raw
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| valid_type(t))
        .ok_or_else(|| {
            reject(
                raw,
                RejectCode::InvalidType,
                "type must match ^[a-z0-9][a-z0-9._-]*$ (at most 64 characters)",
            )
        })?
        .to_owned();
    let data = match raw.get("data") {
        Some(Value::Object(map)) if !map.is_empty() => map.clone(),
        _ => {
            return Err(reject(
                raw,
                RejectCode::InvalidData,
                "data must be a non-empty JSON object",
            ))
        }
    };
    let serialized = serde_json::to_string(&data).unwrap_or_default();
    if crate::nul::map_holds_nul(&data) {
        // PostgreSQL cannot store NUL in text or JSONB; reject it on every backend alike.
        return Err(reject(
            raw,
            RejectCode::InvalidData,
            "data must not contain NUL characters",
        ));
    }
    if holds_long_entity_name(&data) {
        return Err(reject(
            raw,
            RejectCode::InvalidData,
            "data.entityName, and the entityName of every inline member, must be at most 128 \
             characters",
        ));
    }
    if serialized.is_empty() || serialized.len() > MAX_DATA_BYTES {
        return Err(reject(
            raw,
            RejectCode::DataTooLarge,
            "data must be at most 256 KiB serialized",
        ));
    }
    let timestamp = raw
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse)
        .ok_or_else(|| {
            reject(
                raw,
                RejectCode::InvalidTimestamp,
                "timestamp must be an ISO-8601 instant",
            )
        })?;
    let user_id = match raw.get("userId") {
        Some(Value::String(s)) if !s.is_empty() && !s.contains('\0') => UserRef::Text(s.clone()),
        Some(Value::Number(n)) => UserRef::Number(n.clone()),
        _ => {
            return Err(reject(
                raw,
                RejectCode::InvalidUserId,
                "userId must be a non-empty string or a number",
            ))
        }
    };
    let sync_level = match raw.get("syncLevel") {
        None | Some(Value::Null) => SyncLevel::LOCAL,
        Some(v) => match v.as_u64() {
            Some(l @ 0..=2) => SyncLevel(l as u8),
            _ => {
                return Err(reject(
                    raw,
                    RejectCode::InvalidSyncLevel,
                    "syncLevel must be 0, 1 or 2",
                ))
            }
        },
    };
    Ok(Event {
        guid,
        entity_guid,
        event_type,
        data,
        timestamp,
        user_id,
        sync_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    "(guid|entityGuid|type|data|timestamp|userId|syncLevel|[a-z]{1,5})",
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// The validator never panics, and what it accepts round-trips through the wire form.
        #[test]
        fn validator_never_panics(raw in arb_json()) {
            if let Ok(event) = validate_event(&raw) {
                let wire = serde_json::to_value(&event).unwrap();
                prop_assert_eq!(validate_event(&wire).unwrap().content_hash(), event.content_hash());
            }
        }
    }

    fn good() -> Value {
        json!({"guid":"e1","entityGuid":"p1","type":"create-individual","data":{"name":"A"},
               "timestamp":"2024-01-15T10:30:00Z","userId":"admin","syncLevel":0,"id":17})
    }

    fn code_of(mut patch: impl FnMut(&mut Map<String, Value>)) -> RejectCode {
        let mut v = good();
        if let Value::Object(m) = &mut v {
            patch(m);
        }
        validate_event(&v).unwrap_err().code
    }

    #[test]
    fn accepts_a_valid_event_ignoring_extra_fields() {
        let e = validate_event(&good()).unwrap();
        assert_eq!(e.guid, "e1");
        assert_eq!(e.timestamp.to_iso(), "2024-01-15T10:30:00.000Z");
        let out = serde_json::to_value(&e).unwrap();
        assert_eq!(out["type"], "create-individual");
        assert_eq!(out["entityGuid"], "p1");
        assert!(out.get("id").is_none());
    }

    #[test]
    fn one_code_per_rule() {
        assert_eq!(
            validate_event(&json!([1])).unwrap_err().code,
            RejectCode::EventNotObject
        );
        assert_eq!(
            code_of(|m| {
                m.remove("guid");
            }),
            RejectCode::InvalidGuid
        );
        assert_eq!(
            code_of(|m| {
                m.insert("guid".into(), json!(""));
            }),
            RejectCode::InvalidGuid
        );
        assert_eq!(
            code_of(|m| {
                m.insert("guid".into(), json!("x".repeat(129)));
            }),
            RejectCode::InvalidGuid
        );
        assert_eq!(
            code_of(|m| {
                m.insert("entityGuid".into(), json!(5));
            }),
            RejectCode::InvalidEntityGuid
        );
        assert_eq!(
            code_of(|m| {
                m.insert("type".into(), json!("Create"));
            }),
            RejectCode::InvalidType
        );
        assert_eq!(
            code_of(|m| {
                m.insert("type".into(), json!("a".repeat(65)));
            }),
            RejectCode::InvalidType
        );
        assert_eq!(
            code_of(|m| {
                m.insert("data".into(), json!({}));
            }),
            RejectCode::InvalidData
        );
        assert_eq!(
            code_of(|m| {
                m.insert("data".into(), json!([1]));
            }),
            RejectCode::InvalidData
        );
        assert_eq!(
            code_of(|m| {
                m.insert("data".into(), json!({"x": "y".repeat(MAX_DATA_BYTES)}));
            }),
            RejectCode::DataTooLarge
        );
        assert_eq!(
            code_of(|m| {
                m.insert("data".into(), json!({"x\u{0}": "a"}));
            }),
            RejectCode::InvalidData
        );
        assert_eq!(
            code_of(|m| {
                m.insert("data".into(), json!({"x": {"y": ["a\u{0}b"]}}));
            }),
            RejectCode::InvalidData
        );
        assert_eq!(
            code_of(|m| {
                m.insert(
                    "data".into(),
                    json!({"entityName": "é".repeat(MAX_ENTITY_NAME_CHARS + 1)}),
                );
            }),
            RejectCode::InvalidData
        );
        // Inline members become entities with their own form name, at any depth.
        let long = "é".repeat(MAX_ENTITY_NAME_CHARS + 1);
        for data in [
            json!({"members": [{"guid": "m1", "entityName": long}]}),
            json!({"members": [{"guid": "g2", "type": "group",
                                "members": [{"guid": "m2", "entityName": long}]}]}),
        ] {
            assert_eq!(
                code_of(|m| {
                    m.insert("data".into(), data.clone());
                }),
                RejectCode::InvalidData
            );
        }
        // At the limit, counted in characters (not bytes), and names that are not strings.
        for name in [
            json!("é".repeat(MAX_ENTITY_NAME_CHARS)),
            json!(7),
            json!(["x"]),
        ] {
            assert!(
                validate_event(&json!({"guid": "g", "entityGuid": "e", "type": "t",
                "data": {"entityName": name}, "timestamp": "2024-01-01T00:00:00Z",
                "userId": 1}))
                .is_ok()
            );
        }
        // The six characters `\u0000` in a string are ordinary text.
        assert!(
            validate_event(&json!({"guid": "g", "entityGuid": "e", "type": "t",
            "data": {"x": "\\u0000"}, "timestamp": "2024-01-01T00:00:00Z", "userId": 1}))
            .is_ok()
        );
        assert_eq!(
            code_of(|m| {
                m.insert("guid".into(), json!("g\u{0}"));
            }),
            RejectCode::InvalidGuid
        );
        assert_eq!(
            code_of(|m| {
                m.insert("userId".into(), json!("u\u{0}"));
            }),
            RejectCode::InvalidUserId
        );
        assert_eq!(
            code_of(|m| {
                m.insert("timestamp".into(), json!("nope"));
            }),
            RejectCode::InvalidTimestamp
        );
        assert_eq!(
            code_of(|m| {
                m.insert("timestamp".into(), json!(12));
            }),
            RejectCode::InvalidTimestamp
        );
        assert_eq!(
            code_of(|m| {
                m.insert("userId".into(), json!(""));
            }),
            RejectCode::InvalidUserId
        );
        assert_eq!(
            code_of(|m| {
                m.insert("userId".into(), json!(null));
            }),
            RejectCode::InvalidUserId
        );
        assert_eq!(
            code_of(|m| {
                m.insert("syncLevel".into(), json!(7));
            }),
            RejectCode::InvalidSyncLevel
        );
        let r = validate_event(&json!({"guid": "g", "type": "x"})).unwrap_err();
        assert_eq!(r.guid.as_deref(), Some("g"));
    }

    /// Stored hashes decide whether a re-pushed event is a duplicate or a conflict, so the
    /// hash of a given content never changes (escapes, unicode, nesting, number forms).
    #[test]
    fn content_hash_is_stable() {
        let e = validate_event(&json!({"guid": "g1", "entityGuid": "p\"1", "type": "update-individual",
            "data": {"z": [1, 2.5, -3, 1e300, 18446744073709551615u64, null, true],
                     "a": {"é": "line\nbreak\ttab\u{1}\\ \"q\" / ✓ \u{1F600}", "n": -0.0, "f": 1.0}},
            "timestamp": "2024-01-15T12:30:00.123+02:00", "userId": 42}))
        .unwrap();
        assert_eq!(
            e.content_hash().0,
            "ea381600961ba49183c9216ce15ed3489ee8d3c86271a412620208f4f8398d6e"
        );
    }

    #[test]
    fn content_hash_ignores_sync_level_extras_key_order_and_number_form() {
        let a = validate_event(&good()).unwrap();
        let b = validate_event(&json!({"id": 3, "syncLevel": 1, "userId":"admin","timestamp":"2024-01-15T12:30:00+02:00",
            "data":{"name":"A"},"type":"create-individual","entityGuid":"p1","guid":"e1"})).unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        let n1 = validate_event(&json!({"guid":"g","entityGuid":"p","type":"t","data":{"a":1.0},"timestamp":"2024-01-01T00:00:00Z","userId":1})).unwrap();
        let n2 = validate_event(&json!({"guid":"g","entityGuid":"p","type":"t","data":{"a":1},"timestamp":"2024-01-01T00:00:00Z","userId":"1"})).unwrap();
        assert_eq!(n1.content_hash(), n2.content_hash());
        let other = validate_event(&json!({"guid":"g","entityGuid":"p","type":"t","data":{"a":2},"timestamp":"2024-01-01T00:00:00Z","userId":"1"})).unwrap();
        assert_ne!(n1.content_hash(), other.content_hash());
    }
}

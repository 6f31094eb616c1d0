//! Realistic household-shaped event streams.
//!
//! Each household is one `create-group` (entityName `household`), then 2–6
//! `create-individual` events whose `data.parentGuid` is the household's guid, then one or
//! two `update-individual` events on members of that household. Every person gets a name,
//! date of birth and national id that are unique within the run (a random run tag is part of
//! the surname and the id), so the server's potential-duplicate detection flags nothing.
//! Timestamps are ISO-8601 UTC with milliseconds and strictly increase per generator; with
//! `clients` generators sharing one base instant they are also unique across generators.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use uuid::Uuid;

const FIRST_NAMES: &[&str] = &[
    "Amina", "Kofi", "Lina", "Tariq", "Grace", "Juan", "Mei", "Ravi", "Fatou", "Olga", "Samuel",
    "Aisha", "Pedro", "Nadia", "Chidi", "Elena", "Hassan", "Ines", "Jonas", "Leila",
];
const LAST_NAMES: &[&str] = &[
    "Okafor", "Mensah", "Haddad", "Santos", "Nguyen", "Kariuki", "Diallo", "Petrova", "Rahman",
    "Moreno", "Banda", "Osei", "Farah", "Silva", "Tanaka", "Mwangi",
];
const VILLAGES: &[&str] = &[
    "Kijani",
    "Riverside",
    "Hilltop",
    "Lakeview",
    "Palm Grove",
    "Sunrise",
    "Old Market",
];
const REGIONS: &[&str] = &["Central", "Northern", "Coastal", "Eastern", "Western"];
const OCCUPATIONS: &[&str] = &["farmer", "trader", "teacher", "student", "nurse", "tailor"];
const RELATIONSHIPS: &[&str] = &["spouse", "child", "parent", "sibling", "other"];

/// One event as pushed to `POST /api/sync/push`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Event id (UUID v4).
    pub guid: String,
    /// The entity the event targets.
    pub entity_guid: String,
    /// `create-group`, `create-individual` or `update-individual`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The payload.
    pub data: EventData,
    /// Client creation time, `YYYY-MM-DDTHH:MM:SS.sssZ`.
    pub timestamp: String,
    /// The pushing agent.
    pub user_id: String,
}

/// Payload of one event.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum EventData {
    /// `create-group` of a household.
    Household(HouseholdData),
    /// `create-individual` of a household member.
    Person(PersonData),
    /// `update-individual` of a member.
    Update(UpdateData),
}

/// Household fields.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HouseholdData {
    /// Always `household`.
    pub entity_name: &'static str,
    /// Display name.
    pub name: String,
    /// Street address (unique per household).
    pub address: String,
    /// Village.
    pub village: &'static str,
    /// Region.
    pub region: &'static str,
    /// Members the household will have.
    pub household_size: u32,
}

/// Person fields.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonData {
    /// Always `individual`.
    pub entity_name: &'static str,
    /// Guid of the household.
    pub parent_guid: String,
    /// Display name (`first last`).
    pub name: String,
    /// Given name.
    pub first_name: &'static str,
    /// Family name, unique within the run.
    pub last_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// `F` or `M`.
    pub sex: &'static str,
    /// Unique id document number.
    pub national_id: String,
    /// Relationship to the household head.
    pub relationship: &'static str,
}

/// Fields changed by an update.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateData {
    /// Always `individual`.
    pub entity_name: &'static str,
    /// New phone number (unique).
    pub phone: String,
    /// New occupation.
    pub occupation: &'static str,
}

/// Infinite, deterministic (per seed) stream of household-shaped events.
#[derive(Debug)]
pub struct EventGenerator {
    client: u64,
    clients: u64,
    base_ms: i64,
    run_tag: String,
    user_id: String,
    rng: StdRng,
    emitted: u64,
    households: u64,
    people: u64,
    pending: VecDeque<(String, &'static str, EventData)>,
}

impl EventGenerator {
    /// Generator number `client` of `clients` (timestamps interleave: generator `c` uses
    /// `base_ms + n * clients + c`). `run_tag` makes names unique across runs.
    pub fn new(client: u32, clients: u32, base_ms: i64, run_tag: &str, seed: u64) -> Self {
        let clients = u64::from(clients.max(1));
        Self {
            client: u64::from(client),
            clients,
            base_ms,
            run_tag: run_tag.to_owned(),
            user_id: format!("bench-agent-{client}"),
            rng: StdRng::seed_from_u64(seed ^ (u64::from(client) << 32)),
            emitted: 0,
            households: 0,
            people: 0,
            pending: VecDeque::new(),
        }
    }

    fn next_timestamp(&mut self) -> String {
        let offset = self
            .emitted
            .saturating_mul(self.clients)
            .saturating_add(self.client);
        let ms = self
            .base_ms
            .saturating_add(i64::try_from(offset).unwrap_or(i64::MAX / 2));
        format_millis(ms)
    }

    fn plan_household(&mut self) {
        let h = self.households;
        self.households += 1;
        let household_guid = Uuid::new_v4().to_string();
        let size: u32 = self.rng.gen_range(2..=6);
        let head_last = LAST_NAMES[self.rng.gen_range(0..LAST_NAMES.len())];
        self.pending.push_back((
            household_guid.clone(),
            "create-group",
            EventData::Household(HouseholdData {
                entity_name: "household",
                name: format!("{head_last} household {}-{}-{h}", self.run_tag, self.client),
                address: format!("{} {} Road, plot {h}", h % 997 + 1, head_last),
                village: VILLAGES[self.rng.gen_range(0..VILLAGES.len())],
                region: REGIONS[self.rng.gen_range(0..REGIONS.len())],
                household_size: size,
            }),
        ));
        let mut members = Vec::with_capacity(size as usize);
        for m in 0..size {
            let p = self.people;
            self.people += 1;
            let guid = Uuid::new_v4().to_string();
            let first_name = FIRST_NAMES[self.rng.gen_range(0..FIRST_NAMES.len())];
            let last_name = format!("{head_last}-{}{}x{p}", self.run_tag, self.client);
            self.pending.push_back((
                guid.clone(),
                "create-individual",
                EventData::Person(PersonData {
                    entity_name: "individual",
                    parent_guid: household_guid.clone(),
                    name: format!("{first_name} {last_name}"),
                    first_name,
                    last_name,
                    date_of_birth: birth_date(self.rng.gen_range(0..30_000)),
                    sex: if self.rng.gen_bool(0.5) { "F" } else { "M" },
                    national_id: format!("NID-{}-{}-{p}", self.run_tag, self.client),
                    relationship: if m == 0 {
                        "head"
                    } else {
                        RELATIONSHIPS[self.rng.gen_range(0..RELATIONSHIPS.len())]
                    },
                }),
            ));
            members.push(guid);
        }
        let updates = self.rng.gen_range(1..=2usize);
        for u in 0..updates {
            let target = members[self.rng.gen_range(0..members.len())].clone();
            self.pending.push_back((
                target,
                "update-individual",
                EventData::Update(UpdateData {
                    entity_name: "individual",
                    phone: format!("+000-{}-{}-{h}-{u}", self.run_tag, self.client),
                    occupation: OCCUPATIONS[self.rng.gen_range(0..OCCUPATIONS.len())],
                }),
            ));
        }
    }
}

impl Iterator for EventGenerator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.pending.is_empty() {
            self.plan_household();
        }
        let (entity_guid, kind, data) = self.pending.pop_front()?;
        let timestamp = self.next_timestamp();
        self.emitted += 1;
        Some(Event {
            guid: Uuid::new_v4().to_string(),
            entity_guid,
            kind,
            data,
            timestamp,
            user_id: self.user_id.clone(),
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` for UTC milliseconds since the epoch.
pub fn format_millis(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn birth_date(days_after_1930: i64) -> String {
    let base = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap_or_default();
    (base + Duration::days(days_after_1930))
        .format("%Y-%m-%d")
        .to_string()
}

/// A short random tag (base 36) that makes generated names unique to one run.
pub fn run_tag() -> String {
    let mut n: u32 = rand::thread_rng().gen();
    let mut tag = String::new();
    for _ in 0..5 {
        let d = n % 36;
        n /= 36;
        tag.push(char::from_digit(d, 36).unwrap_or('0'));
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::{HashMap, HashSet};

    fn events(client: u32, clients: u32, n: usize) -> Vec<Value> {
        EventGenerator::new(client, clients, 1_700_000_000_000, "t3st", 7)
            .take(n)
            .map(|e| serde_json::to_value(e).unwrap())
            .collect()
    }

    #[test]
    fn households_come_first_then_members_then_updates() {
        let evs = events(0, 1, 2_000);
        let mut households: HashMap<String, usize> = HashMap::new();
        let mut person_household: HashMap<String, String> = HashMap::new();
        let mut last_household: Option<String> = None;
        for e in &evs {
            let data = &e["data"];
            match e["type"].as_str().unwrap() {
                "create-group" => {
                    assert_eq!(data["entityName"], "household");
                    assert!(data["address"].as_str().unwrap().len() > 5);
                    let g = e["entityGuid"].as_str().unwrap().to_owned();
                    households.insert(g.clone(), 0);
                    last_household = Some(g);
                }
                "create-individual" => {
                    assert_eq!(data["entityName"], "individual");
                    let parent = data["parentGuid"].as_str().unwrap();
                    assert_eq!(Some(parent), last_household.as_deref());
                    *households.get_mut(parent).unwrap() += 1;
                    person_household
                        .insert(e["entityGuid"].as_str().unwrap().to_owned(), parent.into());
                }
                "update-individual" => {
                    assert_eq!(data["entityName"], "individual");
                    let target = e["entityGuid"].as_str().unwrap();
                    assert_eq!(
                        person_household.get(target).map(String::as_str),
                        last_household.as_deref(),
                        "an update targets a member of the current household"
                    );
                }
                other => panic!("unexpected type {other}"),
            }
        }
        assert!(households.len() > 200);
        // Every complete household (all but possibly the last) has 2..=6 members.
        let last = last_household.unwrap();
        for (g, n) in &households {
            if *g != last {
                assert!((2..=6).contains(n), "household with {n} members");
            }
        }
        let updates = evs
            .iter()
            .filter(|e| e["type"] == "update-individual")
            .count();
        assert!(updates >= households.len() - 1);
    }

    #[test]
    fn person_names_are_unique_across_clients() {
        let mut keys = HashSet::new();
        let mut ids = HashSet::new();
        let mut persons = 0;
        for c in 0..4 {
            for e in events(c, 4, 3_000) {
                if e["type"] == "create-individual" {
                    persons += 1;
                    let d = &e["data"];
                    let key = format!(
                        "{}|{}|{}",
                        d["firstName"].as_str().unwrap().to_lowercase(),
                        d["lastName"].as_str().unwrap().to_lowercase(),
                        d["dateOfBirth"]
                    );
                    assert!(keys.insert(key), "duplicate person key");
                    assert!(ids.insert(d["nationalId"].as_str().unwrap().to_owned()));
                }
            }
        }
        assert!(persons > 4_000);
    }

    #[test]
    fn event_fields_are_valid() {
        let ts_re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
        let type_re = regex::Regex::new(r"^[a-z0-9][a-z0-9._-]*$").unwrap();
        let mut guids = HashSet::new();
        let mut prev = String::new();
        for e in events(1, 3, 1_000) {
            let obj = e.as_object().unwrap();
            let keys: Vec<_> = obj.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                ["guid", "entityGuid", "type", "data", "timestamp", "userId"]
            );
            let guid = Uuid::parse_str(e["guid"].as_str().unwrap()).unwrap();
            assert_eq!(guid.get_version_num(), 4);
            assert!(guids.insert(guid));
            Uuid::parse_str(e["entityGuid"].as_str().unwrap()).unwrap();
            assert!(type_re.is_match(e["type"].as_str().unwrap()));
            assert!(!e["data"].as_object().unwrap().is_empty());
            assert_eq!(e["userId"], "bench-agent-1");
            let ts = e["timestamp"].as_str().unwrap().to_owned();
            assert!(ts_re.is_match(&ts), "{ts}");
            assert!(ts > prev, "timestamps increase: {prev} then {ts}");
            prev = ts;
        }
    }

    #[test]
    fn timestamps_interleave_without_collisions_across_clients() {
        let mut all = HashSet::new();
        for c in 0..3 {
            for e in events(c, 3, 500) {
                assert!(all.insert(e["timestamp"].as_str().unwrap().to_owned()));
            }
        }
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn run_tags_are_short_and_url_safe() {
        let t = run_tag();
        assert_eq!(t.len(), 5);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

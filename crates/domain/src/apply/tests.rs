use super::*;
use crate::event::{SyncLevel, UserRef};
use crate::time::Timestamp;
use serde_json::json;

pub(crate) fn ev(guid: &str, entity: &str, ty: &str, data: Value, ms: i64) -> Event {
    let Value::Object(data) = data else {
        panic!("data must be an object")
    };
    Event {
        guid: guid.into(),
        entity_guid: entity.into(),
        event_type: ty.into(),
        data,
        timestamp: Timestamp::from_millis(ms).unwrap(),
        user_id: UserRef::Text("u".into()),
        sync_level: SyncLevel::REMOTE,
    }
}

fn live(state: &BTreeMap<String, EntityRecord>) -> Vec<&str> {
    state
        .values()
        .filter(|r| !r.deleted)
        .map(|r| r.entity.guid.as_str())
        .collect()
}

#[test]
fn create_individual_then_update_merges_shallowly() {
    let s = fold(&[
        ev(
            "e1",
            "p1",
            "create-individual",
            json!({"name": "Ann", "age": 3}),
            1,
        ),
        ev(
            "e2",
            "p1",
            "update-individual",
            json!({"age": 4, "externalId": 77}),
            2,
        ),
    ]);
    let p = &s["p1"].entity;
    assert_eq!(p.kind, EntityKind::Individual);
    assert_eq!(p.name, "Ann");
    assert_eq!(p.version, 2);
    assert_eq!(
        Value::Object(p.data.clone()),
        json!({"name": "Ann", "age": 4, "externalId": 77})
    );
    assert_eq!(p.external_id.as_deref(), Some("77"));
    assert_eq!(p.last_updated.millis(), 2);
    assert_eq!(s["p1"].last_key.guid, "e2");
}

#[test]
fn default_names() {
    let s = fold(&[
        ev("e1", "p1", "create-individual", json!({"age": 1}), 1),
        ev("e2", "g1", "create-group", json!({"x": 1}), 1),
    ]);
    assert_eq!(s["p1"].entity.name, UNNAMED_INDIVIDUAL);
    assert_eq!(s["p1"].entity.data["name"], UNNAMED_INDIVIDUAL);
    assert_eq!(s["g1"].entity.name, UNNAMED_GROUP);
}

#[test]
fn numeric_member_guids_are_read_in_canonical_form() {
    // PostgreSQL's jsonb gives `-0.0` back as `0.0` and `1e2` as `100`: the same member.
    for (written, read_back) in [(json!(-0.0), json!(0.0)), (json!(1e2), json!(100))] {
        let event = |guid: &Value| {
            ev(
                "e1",
                "g",
                "create-group",
                json!({"members": [{"guid": guid}]}),
                1,
            )
        };
        assert_eq!(event_refs(&event(&written)), event_refs(&event(&read_back)));
        let s = fold(&[event(&written)]);
        assert_eq!(s["g"].entity.member_ids.len(), 1);
        assert!(s.contains_key(&canonical_json(&read_back)));
    }
}

#[test]
fn names_follow_upstreams_data_name_or_current_rule() {
    let s = fold(&[
        // A truthy name that is not a string is the name, and data keeps it as sent.
        ev("e1", "p1", "create-individual", json!({"name": 42}), 1),
        ev("e2", "p2", "create-individual", json!({"name": "Ann"}), 1),
        // A falsy name keeps the current one; an individual's data keeps what was sent.
        ev("e3", "p2", "update-individual", json!({"name": ""}), 2),
        // A group's data.name always becomes its name.
        ev("e4", "g1", "create-group", json!({"name": "Home"}), 1),
        ev("e5", "g1", "update-group", json!({"name": 0}), 2),
    ]);
    assert_eq!(s["p1"].entity.name, "42");
    assert_eq!(s["p1"].entity.data["name"], 42);
    assert_eq!(s["p2"].entity.name, "Ann");
    assert_eq!(s["p2"].entity.data["name"], "");
    assert_eq!(s["g1"].entity.name, "Home");
    assert_eq!(s["g1"].entity.data["name"], "Home");
}

#[test]
fn group_with_inline_and_nested_members() {
    let s = fold(&[ev(
        "e1",
        "hh",
        "create-group",
        json!({"name": "House", "members": [
            {"guid": "m1", "name": "A"},
            {"guid": "sub", "type": "group", "name": "Sub", "members": [{"guid": "m2", "name": "B"}]},
            {"name": "no guid"}
        ]}),
        1,
    )]);
    assert_eq!(s["hh"].entity.member_ids, vec!["m1", "sub"]);
    assert!(s["hh"].entity.data.get("members").is_none());
    assert_eq!(s["sub"].entity.kind, EntityKind::Group);
    assert_eq!(s["sub"].entity.member_ids, vec!["m2"]);
    assert_eq!(s["m2"].parent_ids, vec!["sub"]);
    assert_eq!(s["m1"].entity.name, "A");
    assert_eq!(s["m1"].entity.version, 1);
    assert_eq!(live(&s).len(), 4);
}

#[test]
fn add_member_to_existing_household_keeps_existing_member_data() {
    // Upstream bug 15: add-member overwrote an existing member with the member payload.
    let s = fold(&[
        ev("e1", "hh", "create-group", json!({"name": "H"}), 1),
        ev(
            "e2",
            "m1",
            "create-individual",
            json!({"name": "A", "age": 30}),
            2,
        ),
        ev(
            "e3",
            "hh",
            "add-member",
            json!({"members": [{"guid": "m1", "name": "X"}, {"guid": "m2"}]}),
            3,
        ),
    ]);
    assert_eq!(s["hh"].entity.member_ids, vec!["m1", "m2"]);
    assert_eq!(s["hh"].entity.version, 2);
    assert_eq!(s["m1"].entity.name, "A");
    assert_eq!(s["m1"].entity.data["age"], 30);
    assert_eq!(s["m1"].parent_ids, vec!["hh"]);
    assert_eq!(s["m2"].entity.name, UNNAMED_INDIVIDUAL);
}

#[test]
fn add_member_to_missing_or_non_group_has_no_effect() {
    let s = fold(&[
        ev("e1", "p1", "create-individual", json!({"name": "A"}), 1),
        ev(
            "e2",
            "p1",
            "add-member",
            json!({"members": [{"guid": "m1"}]}),
            2,
        ),
        ev(
            "e3",
            "nope",
            "add-member",
            json!({"members": [{"guid": "m2"}]}),
            3,
        ),
        ev("e4", "p1", "add-member", json!({"members": "garbage"}), 4),
    ]);
    assert_eq!(live(&s), vec!["p1"]);
}

#[test]
fn create_group_add_member_edit_member() {
    let s = fold(&[
        ev("e1", "hh", "create-group", json!({"name": "H"}), 1),
        ev(
            "e2",
            "hh",
            "add-member",
            json!({"members": [{"guid": "m1", "name": "A"}]}),
            2,
        ),
        ev("e3", "m1", "update-individual", json!({"name": "A2"}), 3),
    ]);
    assert_eq!(s["m1"].entity.name, "A2");
    assert_eq!(s["m1"].entity.version, 2);
    assert_eq!(s["hh"].entity.member_ids, vec!["m1"]);
}

#[test]
fn remove_member_keeps_individuals_and_cascades_groups() {
    let s = fold(&[
        ev(
            "e1",
            "hh",
            "create-group",
            json!({"members": [
                {"guid": "m1"}, {"guid": "sub", "type": "group", "members": [{"guid": "m2"}]}
            ]}),
            1,
        ),
        ev("e2", "hh", "remove-member", json!({"memberId": "m1"}), 2),
        ev("e3", "hh", "remove-member", json!({"memberId": "sub"}), 3),
        ev(
            "e4",
            "hh",
            "remove-member",
            json!({"memberId": "unknown"}),
            4,
        ),
    ]);
    assert!(s["hh"].entity.member_ids.is_empty());
    assert_eq!(s["hh"].entity.version, 3);
    assert!(!s["m1"].deleted);
    assert!(s["m1"].parent_ids.is_empty());
    assert!(s["sub"].deleted);
    assert!(s["m2"].deleted);
}

#[test]
fn three_groups_of_four_then_modify_first() {
    let mut events = Vec::new();
    for g in 0..3 {
        let members: Vec<Value> = (0..4)
            .map(|m| json!({"guid": format!("g{g}m{m}"), "name": format!("M{m}")}))
            .collect();
        events.push(ev(
            &format!("c{g}"),
            &format!("g{g}"),
            "create-group",
            json!({"name": format!("G{g}"), "members": members}),
            1,
        ));
    }
    events.push(ev("u", "g0", "update-group", json!({"name": "First"}), 2));
    let s = fold(&events);
    assert_eq!(live(&s).len(), 15);
    assert_eq!(s["g0"].entity.name, "First");
    assert_eq!(s["g0"].entity.member_ids.len(), 4);
    assert_eq!(s["g1"].entity.version, 1);
}

#[test]
fn delete_group_cascades_and_leaves_no_live_entity() {
    let s = fold(&[
        ev(
            "e1",
            "hh",
            "create-group",
            json!({"members": [{"guid": "a"}, {"guid": "b"}]}),
            1,
        ),
        ev("e2", "hh", "delete-entity", json!({"reason": "dup"}), 2),
    ]);
    assert!(live(&s).is_empty());
}

/// A workspace that counts the member ids of every record it hands out.
#[derive(Default)]
struct CountingWorkspace {
    records: BTreeMap<String, EntityRecord>,
    member_ids_read: usize,
}

impl Workspace for CountingWorkspace {
    fn get(&mut self, guid: &str) -> Result<Option<EntityRecord>, StoreError> {
        let rec = self.records.get(guid).cloned();
        self.member_ids_read += rec.as_ref().map_or(0, |r| r.entity.member_ids.len());
        Ok(rec)
    }

    fn put(&mut self, record: EntityRecord) {
        self.records.insert(record.entity.guid.clone(), record);
    }
}

#[test]
fn deleting_a_big_group_reads_it_a_bounded_number_of_times() {
    const N: usize = 2_000;
    let members: Vec<Value> = (0..N).map(|i| json!({"guid": format!("m{i}")})).collect();
    let mut ws = CountingWorkspace::default();
    apply_event(
        &mut ws,
        &ev("e1", "g", "create-group", json!({"members": members}), 1),
    )
    .unwrap();
    ws.member_ids_read = 0;
    apply_event(&mut ws, &ev("e2", "g", "delete-entity", json!({"r": 1}), 2)).unwrap();
    assert!(ws.records.values().all(|r| r.deleted));
    // Each member used to read its (already tombstoned) group back: N × N ids copied.
    assert!(
        ws.member_ids_read <= 10 * N,
        "{} member ids read",
        ws.member_ids_read
    );
}

#[test]
fn deleted_member_leaves_parent_member_ids() {
    // Upstream bug 15: the deleted guid stayed in the parent's memberIds.
    let s = fold(&[
        ev(
            "e1",
            "hh",
            "create-group",
            json!({"members": [{"guid": "a"}, {"guid": "b"}]}),
            1,
        ),
        ev("e2", "a", "delete-entity", json!({"reason": "moved"}), 2),
    ]);
    assert_eq!(s["hh"].entity.member_ids, vec!["b"]);
    assert_eq!(s["hh"].entity.version, 2);
    assert!(s["a"].deleted);
}

#[test]
fn delete_wins_over_later_updates() {
    let s = fold(&[
        ev("e1", "p", "create-individual", json!({"name": "A"}), 1),
        ev("e2", "p", "delete-entity", json!({"reason": "x"}), 2),
        ev("e3", "p", "update-individual", json!({"name": "B"}), 3),
    ]);
    assert!(s["p"].deleted);
    assert_eq!(s["p"].entity.name, "A");
    assert_eq!(s["p"].last_key.guid, "e3");
}

#[test]
fn resolve_duplicate_resolves_every_pair_and_deletes() {
    // Upstream bug 14: only duplicates[0] was resolved.
    let mut state = BTreeMap::new();
    apply_event(
        &mut state,
        &ev("e1", "n", "create-individual", json!({"name": "A"}), 1),
    )
    .unwrap();
    let fx = apply_event(
        &mut state,
        &ev("e2", "n", "resolve-duplicate", json!({"duplicates": [
            {"entityGuid": "n", "duplicateGuid": "o1"}, {"entityGuid": "n", "duplicateGuid": "o2"}, {"bad": 1}
        ], "shouldDelete": true}), 2),
    )
    .unwrap();
    assert_eq!(
        fx.resolved,
        vec![("n".into(), "o1".into()), ("n".into(), "o2".into())]
    );
    assert_eq!(fx.deleted, vec!["n".to_string()]);
    let keep = apply_event(
        &mut state,
        &ev("e3", "x", "resolve-duplicate", json!({"duplicates": [{"entityGuid": "x", "duplicateGuid": "y"}], "shouldDelete": false}), 3),
    )
    .unwrap();
    assert!(keep.deleted.is_empty());
}

#[test]
fn custom_type_is_relayed_without_effect() {
    let s = fold(&[
        ev("e1", "p", "create-individual", json!({"name": "A"}), 1),
        ev("e2", "p", "addElderly.v2", json!({"x": 1}), 2),
    ]);
    assert_eq!(s["p"].entity.version, 1);
    assert_eq!(s["p"].last_key.guid, "e2");
}

#[test]
fn second_offline_edit_in_one_push_is_kept() {
    // Upstream bug 9: the server kept only the first edit of an entity edited twice offline.
    let s = fold(&[
        ev("e1", "p", "create-individual", json!({"name": "A"}), 1),
        ev("e2", "p", "update-individual", json!({"name": "B"}), 2),
        ev("e3", "p", "update-individual", json!({"name": "C"}), 3),
    ]);
    assert_eq!(s["p"].entity.name, "C");
    assert_eq!(s["p"].entity.version, 3);
}

#[test]
fn refs_are_static_and_complete() {
    let e = ev(
        "e",
        "hh",
        "create-group",
        json!({"members": [{"guid": "a", "members": [{"guid": "b"}]}, {"guid": 7}]}),
        1,
    );
    assert_eq!(event_refs(&e), vec!["7", "a", "b", "hh"]);
    let r = ev("e", "hh", "remove-member", json!({"memberId": "m"}), 1);
    assert_eq!(event_refs(&r), vec!["hh", "m"]);
    let d = ev(
        "e",
        "n",
        "resolve-duplicate",
        json!({"duplicates": [{"entityGuid": "n", "duplicateGuid": "o"}]}),
        1,
    );
    assert_eq!(event_refs(&d), vec!["n", "o"]);
}

#[test]
fn self_membership_and_cycles_do_not_loop() {
    let s = fold(&[
        ev(
            "e1",
            "a",
            "create-group",
            json!({"members": [{"guid": "a"}, {"guid": "b", "type": "group"}]}),
            1,
        ),
        ev(
            "e2",
            "b",
            "add-member",
            json!({"members": [{"guid": "a"}]}),
            2,
        ),
        ev("e3", "a", "delete-entity", json!({"r": 1}), 3),
    ]);
    assert!(s["a"].deleted && s["b"].deleted);
}

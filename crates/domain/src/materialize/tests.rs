use super::*;
use crate::apply::tests::ev;
use crate::duplicates::{DuplicateRule, DuplicateRules, Normalize};
use crate::fake::tenant::MemTenant;
use crate::time::Timestamp;
use proptest::prelude::*;
use serde_json::{json, Value};

fn batch(events: Vec<Event>) -> PushBatch {
    PushBatch {
        events,
        received_at: Timestamp::from_millis(99).unwrap(),
        pushed_by: Some("1".into()),
        ..PushBatch::default()
    }
}

fn push(t: &mut MemTenant, events: Vec<Event>) -> PushOutcome {
    push_in_tx(t, &batch(events)).unwrap()
}

/// Entity states without the match keys (which depend on the rules, not the order).
fn states(t: &MemTenant) -> BTreeMap<String, EntityRecord> {
    t.entities()
        .iter()
        .map(|(k, r)| {
            (
                k.clone(),
                EntityRecord {
                    match_key: None,
                    ..r.clone()
                },
            )
        })
        .collect()
}

#[test]
fn assigns_consecutive_seqs_and_counts() {
    let mut t = MemTenant::default();
    let out = push(
        &mut t,
        vec![
            ev("e1", "p", "create-individual", json!({"name": "A"}), 1),
            ev("e2", "p", "update-individual", json!({"name": "B"}), 2),
        ],
    );
    assert_eq!((out.applied, out.duplicates, out.head), (2, 0, Seq(2)));
    assert_eq!(
        t.events().iter().map(|e| e.seq.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(t.events()[0].pushed_by.as_deref(), Some("1"));
    assert_eq!(t.entities()["p"].entity.name, "B");
}

#[test]
fn re_push_is_idempotent_and_conflicts_are_rejected() {
    let mut t = MemTenant::default();
    let e1 = ev("e1", "p", "create-individual", json!({"name": "A"}), 1);
    push(&mut t, vec![e1.clone()]);
    let before = states(&t);
    let mut relevelled = e1.clone();
    relevelled.sync_level = crate::event::SyncLevel::LOCAL;
    let out = push(&mut t, vec![e1.clone(), relevelled]);
    assert_eq!((out.applied, out.duplicates), (0, 2));
    assert_eq!(states(&t), before);
    let changed = ev("e1", "p", "create-individual", json!({"name": "Z"}), 1);
    let out = push(&mut t, vec![changed]);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].code, RejectCode::EventGuidConflict);
    assert_eq!(out.head, Seq(1));
    assert_eq!(t.entities()["p"].entity.name, "A");
}

#[test]
fn repeats_inside_one_batch() {
    let mut t = MemTenant::default();
    let a = ev("e1", "p", "create-individual", json!({"name": "A"}), 1);
    let b = ev("e1", "p", "create-individual", json!({"name": "B"}), 1);
    let out = push(&mut t, vec![a.clone(), a, b]);
    assert_eq!((out.applied, out.duplicates, out.errors.len()), (1, 1, 1));
    assert_eq!(out.errors[0].guid.as_deref(), Some("e1"));
}

#[test]
fn rejected_events_are_quarantined_and_reported() {
    let mut t = MemTenant::default();
    let raw = json!({"guid": "bad"});
    let why = crate::event::validate_event(&raw).unwrap_err();
    let mut b = batch(vec![]);
    b.rejected = vec![(raw.clone(), why.clone())];
    let out = push_in_tx(&mut t, &b).unwrap();
    assert_eq!(out.errors, vec![why]);
    assert_eq!(t.quarantine_rows()[0].raw, raw);
    assert_eq!(out.head, Seq(0));
}

#[test]
fn late_event_triggers_recompute_equal_to_full_fold() {
    let mut t = MemTenant::default();
    let early = ev(
        "e1",
        "p",
        "create-individual",
        json!({"name": "A", "v": 1}),
        10,
    );
    let later = ev("e3", "p", "update-individual", json!({"v": 3}), 30);
    push(&mut t, vec![early.clone()]);
    push(&mut t, vec![later.clone()]);
    // An offline device pushes an edit made between the two, after both arrived.
    let late = ev(
        "e2",
        "p",
        "update-individual",
        json!({"v": 2, "name": "Late"}),
        20,
    );
    push(&mut t, vec![late.clone()]);
    let p = &t.entities()["p"].entity;
    assert_eq!(p.data["v"], 3, "the newer edit still wins");
    assert_eq!(p.name, "Late");
    assert_eq!(p.version, 3);
    assert_eq!(states(&t), fold(&[early, later, late]));
}

#[test]
fn late_delete_of_a_household_recomputes_members() {
    let mut t = MemTenant::default();
    let create = ev(
        "c",
        "hh",
        "create-group",
        json!({"members": [{"guid": "m"}]}),
        10,
    );
    let edit = ev("u", "m", "update-individual", json!({"name": "After"}), 30);
    push(&mut t, vec![create.clone()]);
    push(&mut t, vec![edit.clone()]);
    let delete = ev("d", "hh", "delete-entity", json!({"r": 1}), 20);
    push(&mut t, vec![delete.clone()]);
    assert!(
        t.entities()["m"].deleted,
        "the delete happened before the edit: delete wins"
    );
    assert_eq!(states(&t), fold(&[create, edit, delete]));
}

#[test]
fn duplicates_flagged_resolved_and_keep_both_remembered() {
    let mut t = MemTenant::default();
    push(
        &mut t,
        vec![ev(
            "e1",
            "a",
            "create-individual",
            json!({"entityName": "person", "first": "Ann", "parentGuid": "x"}),
            1,
        )],
    );
    push(
        &mut t,
        vec![ev(
            "e2",
            "b",
            "create-individual",
            json!({"entityName": "person", "first": "ANN", "parentGuid": "y"}),
            2,
        )],
    );
    assert_eq!(
        t.duplicates().iter().cloned().collect::<Vec<_>>(),
        vec![("b".to_string(), "a".to_string())]
    );
    assert!(t.keep_both("b", "a"));
    // An unrelated field change keeps the match key: not flagged again.
    push(
        &mut t,
        vec![ev(
            "e3",
            "b",
            "update-individual",
            json!({"parentGuid": "z"}),
            3,
        )],
    );
    assert!(t.duplicates().is_empty());
    // A matched-field change and back re-flags it (the key changed).
    push(
        &mut t,
        vec![ev("e4", "b", "update-individual", json!({"extra": "1"}), 4)],
    );
    push(
        &mut t,
        vec![ev("e5", "a", "update-individual", json!({"extra": "1"}), 5)],
    );
    assert_eq!(t.duplicates().len(), 1);
    // Deleting one side removes the pair.
    push(
        &mut t,
        vec![ev(
            "e6",
            "a",
            "resolve-duplicate",
            json!({"duplicates": [{"entityGuid": "a", "duplicateGuid": "b"}], "shouldDelete": true}),
            6,
        )],
    );
    assert!(t.duplicates().is_empty());
}

#[test]
fn nested_fields_match_under_the_default_rule() {
    // Upstream bug 13: dotted keys were looked up literally, so nested data never matched.
    let mut t = MemTenant::default();
    push(
        &mut t,
        vec![
            ev(
                "e1",
                "a",
                "create-individual",
                json!({"addr": {"city": "X"}, "n": "q'\"; DROP TABLE"}),
                1,
            ),
            ev(
                "e2",
                "b",
                "create-individual",
                json!({"addr": {"city": "x"}, "n": "Q'\"; drop table"}),
                2,
            ),
        ],
    );
    assert_eq!(t.duplicates().len(), 1);
}

#[test]
fn form_rules_choose_the_fields() {
    let mut rules = DuplicateRules::default();
    rules.by_form.insert(
        "person".into(),
        vec![DuplicateRule {
            fields: vec!["first".into()],
            normalize: Normalize::Exact,
        }],
    );
    let mut t = MemTenant::default();
    let mut b = batch(vec![
        ev(
            "e1",
            "a",
            "create-individual",
            json!({"entityName": "person", "first": "Ann", "age": 1}),
            1,
        ),
        ev(
            "e2",
            "b",
            "create-individual",
            json!({"entityName": "person", "first": "Ann", "age": 2}),
            2,
        ),
        ev(
            "e3",
            "c",
            "create-individual",
            json!({"entityName": "person", "first": "ann", "age": 1}),
            3,
        ),
    ]);
    b.rules = rules;
    push_in_tx(&mut t, &b).unwrap();
    assert_eq!(t.duplicates().len(), 1);
}

// ---- convergence -------------------------------------------------------------------------

const GUIDS: [&str; 4] = ["a", "b", "c", "d"];

fn arb_event(i: usize) -> impl Strategy<Value = Event> {
    let guid = prop::sample::select(GUIDS.to_vec());
    let other = prop::sample::select(GUIDS.to_vec());
    let ts = 1i64..5;
    let kind = 0usize..9;
    let val = 0i64..3;
    (guid, other, ts, kind, val).prop_map(move |(g, o, ts, kind, v)| {
        let id = format!("ev{i:03}");
        match kind {
            0 => ev(&id, g, "create-individual", json!({"name": format!("n{v}"), "v": v}), ts),
            1 => ev(&id, g, "update-individual", json!({"v": v}), ts),
            2 => ev(&id, g, "create-group", json!({"name": "g", "members": [{"guid": o, "type": if v == 0 {"group"} else {"individual"}}]}), ts),
            3 => ev(&id, g, "update-group", json!({"v": v}), ts),
            4 => ev(&id, g, "add-member", json!({"members": [{"guid": o}]}), ts),
            5 => ev(&id, g, "remove-member", json!({"memberId": o}), ts),
            6 => ev(&id, g, "delete-entity", json!({"reason": v}), ts),
            7 => ev(&id, g, "resolve-duplicate", json!({"duplicates": [{"entityGuid": g, "duplicateGuid": o}], "shouldDelete": v == 0}), ts),
            _ => ev(&id, g, "custom.note", json!({"v": v}), ts),
        }
    })
}

fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    (1usize..14).prop_flat_map(|n| (0..n).map(arb_event).collect::<Vec<_>>())
}

fn push_in_batches(events: &[Event], order: &[usize], cuts: &[usize]) -> MemTenant {
    let mut t = MemTenant::default();
    let ordered: Vec<Event> = order.iter().map(|&i| events[i].clone()).collect();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&ordered.len())) {
        let end = cut.clamp(start, ordered.len());
        if end > start {
            let mut next = t.clone();
            push_in_tx(&mut next, &batch(ordered[start..end].to_vec())).unwrap();
            t = next;
        }
        start = end;
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every permutation and batching of the same set of events gives the state of the full
    /// fold in (timestamp, guid) order.
    #[test]
    fn convergence(
        events in arb_events(),
        shuffle_a in any::<u64>(),
        shuffle_b in any::<u64>(),
        cuts_a in prop::collection::vec(0usize..14, 0..4),
        cuts_b in prop::collection::vec(0usize..14, 0..4),
    ) {
        let expected = fold(&events);
        for (seed, cuts) in [(shuffle_a, cuts_a), (shuffle_b, cuts_b)] {
            let mut order: Vec<usize> = (0..events.len()).collect();
            let mut s = seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut sorted_cuts = cuts.clone();
            sorted_cuts.sort_unstable();
            let t = push_in_batches(&events, &order, &sorted_cuts);
            prop_assert_eq!(states(&t), expected.clone());
        }
    }

    /// Appliers and the push never panic, whatever the data.
    #[test]
    fn never_panics_on_arbitrary_data(
        data in prop::collection::btree_map("[a-zA-Z]{1,8}", arb_json(), 1..5),
        ty in prop::sample::select(vec!["create-individual", "update-group", "create-group", "add-member", "remove-member", "delete-entity", "resolve-duplicate", "x"]),
    ) {
        let data: serde_json::Map<String, Value> = data.into_iter().collect();
        let e = ev("e", "p", ty, Value::Object(data), 1);
        let mut t = MemTenant::default();
        let _ = push_in_tx(&mut t, &batch(vec![ev("c", "p", "create-group", json!({"members": [{"guid": "m"}]}), 0), e]));
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z0-9]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                "(guid|members|memberId|type|entityGuid|duplicateGuid|[a-z]{1,4})",
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

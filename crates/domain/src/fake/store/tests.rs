use super::*;
use crate::apply::tests::ev;
use crate::event::{RejectCode, Rejection};
use crate::ports::Stores;
use serde_json::json;
use std::sync::Arc;

fn config(id: &str, artifact: &str) -> ConfigRecord {
    ConfigRecord {
        id: TenantId::parse(id).unwrap(),
        artifact_id: artifact.into(),
        document: json!({"id": id, "name": id, "entityForms": [{"name": "p"}]}),
        archived_at: None,
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
    }
}

#[tokio::test]
async fn push_is_atomic_per_batch_and_pull_follows_seq() {
    let store = Arc::new(MemStore::default());
    let stores = Stores::from_one(store.clone());
    let t = TenantId::parse("t").unwrap();
    assert!(matches!(
        stores.events.push(&t, PushBatch::default()).await,
        Err(StoreError::NotFound)
    ));
    assert!(stores
        .configs
        .save_config(&config("t", "a1"))
        .await
        .unwrap());
    assert!(matches!(
        stores.configs.save_config(&config("u", "a1")).await,
        Err(StoreError::Conflict(_))
    ));
    let batch = PushBatch {
        events: (0..5)
            .map(|i| {
                ev(
                    &format!("e{i}"),
                    "p",
                    "update-individual",
                    json!({"i": i}),
                    i,
                )
            })
            .collect(),
        ..PushBatch::default()
    };
    let out = stores.events.push(&t, batch.clone()).await.unwrap();
    assert_eq!((out.applied, out.head), (5, Seq(5)));
    let again = stores.events.push(&t, batch).await.unwrap();
    assert_eq!((again.applied, again.duplicates), (0, 5));
    let page = stores.events.pull(&t, Seq(2), 2, usize::MAX).await.unwrap();
    let seqs = page.events.iter().map(|e| e.seq.0).collect::<Vec<_>>();
    assert_eq!((seqs, page.more), (vec![3, 4], true));
    assert_eq!(
        stores
            .entities
            .get_entity(&t, "p")
            .await
            .unwrap()
            .unwrap()
            .data["i"],
        4
    );
    assert_eq!(stores.entities.count_entities(&t).await.unwrap(), 1);
    let mut bad = PushBatch::default();
    bad.rejected.push((
        json!({}),
        Rejection {
            guid: None,
            code: RejectCode::EventNotObject,
            error: "x".into(),
        },
    ));
    stores.events.push(&t, bad).await.unwrap();
    assert_eq!(stores.events.quarantined(&t, 0, 10).await.unwrap().len(), 1);
    assert!(stores.configs.purge_config(&t).await.unwrap());
    assert_eq!(stores.events.head(&t).await.unwrap(), Seq(0));
}

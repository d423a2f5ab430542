//! Safe upgrades: state written by the previous release (0.1.0: no schema version, none of the
//! later fields) is read and acted on by this one, and state of a newer release is refused with
//! nothing changed. The in-flight bake is in `gold_image_canary`
//! (`a_bake_recorded_before_the_canary_existed_still_finishes`).

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use halfhour::ErrorKind;
use halfhour::domain::{ClusterName, Millis};
use halfhour::state::DOC_SCHEMA;
use halfhour_tests::Emulator;
use serde_json::{Value, json};

use halfhour_tests::loops;
use halfhour_tests::loops::failover::{after, at, health_alarm, setup, t0};

/// The failover document as 0.1.0 wrote it: exactly its fields (`FailoverState` at 0.1.0).
const FAILOVER_FIELDS_0_1_0: [&str; 5] = [
    "mode",
    "flips",
    "failovers",
    "budget_notified_at",
    "last_serving_primary",
];

/// Rewrite `doc#<name>` of `cluster` as a previous release would have: `keep` only its fields,
/// no schema version.
async fn downgrade_doc(
    store: &dyn halfhour::ports::StateStore,
    cluster: &ClusterName,
    name: &str,
    keep: &[&str],
) {
    let doc = store.read_doc(cluster, name).await.unwrap().unwrap();
    let mut body: Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(
        body["schema_version"], DOC_SCHEMA,
        "this release writes its schema"
    );
    body.as_object_mut()
        .unwrap()
        .retain(|field, _| keep.contains(&field.as_str()));
    assert_eq!(
        body.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        keep.iter().copied().collect(),
        "the fixture has exactly the previous release's fields"
    );
    assert!(
        store
            .write_doc(cluster, name, &body.to_string(), Some(doc.version))
            .await
            .unwrap()
    );
}

/// A hold-down in flight when the stack is upgraded: the new function reads the previous
/// release's document, holds for what is left of it, then fails back, writing its own schema.
#[tokio::test]
async fn a_hold_down_recorded_by_the_previous_release_survives_the_upgrade() {
    let emulator = Emulator::shared();
    let s = setup("upgrade-hold", &[]).await;
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    failover::handle(&health_alarm("ALARM"), &at("a1", t0()), &s.deps)
        .await
        .unwrap();
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
    failover::handle(
        &json!({"action": "reconcile"}),
        &at("t1", after(10)),
        &s.deps,
    )
    .await
    .unwrap();
    downgrade_doc(
        s.deps.store.as_ref(),
        &cluster,
        "failover",
        &FAILOVER_FIELDS_0_1_0,
    )
    .await;

    let upgraded = s.cold_start();
    let held = failover::handle(
        &json!({"action": "reconcile"}),
        &at("t2", after(40)),
        &upgraded,
    )
    .await
    .unwrap();
    assert_eq!(
        held.reason.map(|r| json!(r)),
        Some(json!({"HoldDown": {"remaining_s": 30}})),
        "the healthy streak the previous release recorded still counts"
    );
    assert_eq!(s.answer(), "SECONDARY");
    let back = failover::handle(
        &json!({"action": "reconcile"}),
        &at("t3", after(70)),
        &upgraded,
    )
    .await
    .unwrap();
    assert_eq!(back.reason.map(|r| json!(r)), Some(json!("FailedBack")));
    assert_eq!(s.answer(), "PRIMARY");
    let doc = upgraded
        .store
        .read_doc(&cluster, "failover")
        .await
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(
        body["schema_version"], DOC_SCHEMA,
        "rewritten in this release's schema"
    );
}

/// The flags item as 0.1.0 wrote it (no `schema` attribute) and as a newer release would.
async fn put_flags_item(s: &loops::scaling::Setup, flag: &str, until: Millis, schema: Option<i64>) {
    let hold = AttributeValue::M(
        [
            ("by", AttributeValue::S("db-events: failover".into())),
            ("since", AttributeValue::N("0".into())),
            ("until", AttributeValue::N(until.0.to_string())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    );
    let mut put = aws_sdk_dynamodb::Client::new(&s.config)
        .put_item()
        .table_name(&s.cluster.table)
        .item(
            "pk",
            AttributeValue::S(format!("cluster#{}", s.cluster.name)),
        )
        .item("sk", AttributeValue::S("flags".into()))
        .item(format!("flag_{flag}"), hold);
    if let Some(schema) = schema {
        put = put.item("schema", AttributeValue::N(schema.to_string()));
    }
    put.send().await.unwrap();
}

/// A DB failover window raised by the previous release still forbids scale-in after the
/// upgrade; a flags item of a newer release is refused with zero changes.
#[tokio::test]
async fn a_db_window_raised_by_the_previous_release_holds_and_newer_state_is_refused() {
    let s = loops::scaling::setup("upgrade-dbwindow", false).await;
    let now = halfhour::clock::now();
    loops::scaling::handle_at(
        &loops::scaling::alarm_event(&s.alarm("cpu-high"), "ALARM", now),
        "out".into(),
        now,
        &s.deps,
    )
    .await
    .unwrap();
    let window_until = now.plus(Duration::from_secs(3600));
    put_flags_item(&s, "db_failover", window_until, None).await;
    let later = now.plus(Duration::from_secs(3000));
    let refused = loops::scaling::handle_at(
        &loops::scaling::alarm_event(&s.alarm("cpu-low"), "ALARM", later),
        "in".into(),
        later,
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(refused.decision),
        json!({"Hold": {"reason": "DbFailover"}})
    );

    put_flags_item(&s, "db_failover", window_until, Some(99)).await;
    let mark = Emulator::shared().request_mark(&s.app);
    let newer = later.plus(Duration::from_secs(60));
    let err = loops::scaling::handle_at(
        &loops::scaling::alarm_event(&s.alarm("cpu-low"), "ALARM", newer),
        "in-newer".into(),
        newer,
        &s.deps,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(
        err.to_string().contains("newer halfhour (schema 99"),
        "{err}"
    );
    let changed: Vec<String> = Emulator::shared()
        .requests_after(&s.app, mark)
        .into_iter()
        .filter(|r| r.mutating && r.service != "dynamodb")
        .map(|r| r.action)
        .collect();
    assert!(
        changed.is_empty(),
        "nothing changed in the cluster: {changed:?}"
    );
}

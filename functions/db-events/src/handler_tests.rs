//! The database loop's handler in process: the shipped RDS events against a fake cluster and
//! the state table in memory, in milliseconds. The emulator suites prove the same paths through
//! the real SDK.

use std::sync::Arc;
use std::time::Duration;

use halfhour::ErrorKind;
use halfhour::domain::{ClusterName, DbInfo, Flag, Millis, parse_timestamp};
use halfhour::testing::{FakeCluster, each_is_bad_input, event_fixture, lookup_over, loop_core};
use serde_json::{Value, json};

use crate::{DbEventsConfig, Deps, Drift, Invocation, handle};

const DB: &str = "prod-db";
const BASE: &[(&str, &str)] = &[
    ("HALFHOUR_TABLE", "state"),
    ("HALFHOUR_CLUSTER", "prod"),
    ("HALFHOUR_DB_INSTANCE_ID", DB),
];

fn deps(cluster: &Arc<FakeCluster>, extra: &[(&str, &str)]) -> Deps {
    Deps {
        core: loop_core(
            DbEventsConfig::from_lookup(lookup_over(BASE, extra)).unwrap(),
            cluster,
        ),
        databases: cluster.clone(),
    }
}

/// A Multi-AZ database with backups, as the stack creates it.
fn cluster() -> Arc<FakeCluster> {
    let fake = Arc::new(FakeCluster::default());
    fake.set_db(DB, healthy_db());
    fake
}

fn healthy_db() -> DbInfo {
    DbInfo {
        multi_az: true,
        backup_retention_days: 7,
        status: "available".into(),
    }
}

fn event(name: &str) -> (Value, Millis) {
    let event = event_fixture(env!("CARGO_MANIFEST_DIR"), &format!("db-events/{name}"));
    let time = parse_timestamp(event["time"].as_str().unwrap()).unwrap();
    (event, time.plus(Duration::from_secs(5)))
}

fn at(request_id: &str, now: Millis) -> Invocation {
    Invocation::new(request_id, now, Duration::from_secs(30))
}

async fn window(deps: &Deps, now: Millis) -> Option<Millis> {
    let cluster = ClusterName::new("prod").unwrap();
    let flags = deps.store.read_flags(&cluster).await.unwrap();
    flags
        .hold(Flag::DbFailover)
        .filter(|_| flags.is_raised(Flag::DbFailover, now))
        .map(|h| h.until)
}

#[tokio::test]
async fn a_failover_opens_the_window_once_however_often_it_is_delivered() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    let (started, now) = event("failover-started.json");
    let first = handle(&started, &at("r1", now), &deps).await.unwrap();
    let again = handle(&started, &at("r2", now.plus(Duration::from_secs(3))), &deps)
        .await
        .unwrap();
    assert_eq!(first.action, "open_window");
    assert_eq!(again, first, "a duplicate answers the first run's outcome");
    let until = first.window_until.expect("the window's end");
    assert_eq!(window(&deps, now).await, Some(until));
    assert_eq!(until, now.plus(deps.config.window_max));
}

#[tokio::test]
async fn a_completed_failover_closes_the_window_after_the_grace() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    let (started, then) = event("failover-started.json");
    handle(&started, &at("r1", then), &deps).await.unwrap();
    let (completed, now) = event("failover-completed.json");
    let report = handle(&completed, &at("r2", now), &deps).await.unwrap();
    assert_eq!(report.action, "close_window_after_grace");
    let grace_over = now.plus(deps.config.close_grace);
    assert_eq!(window(&deps, now).await, Some(grace_over));
    assert_eq!(
        window(&deps, grace_over).await,
        None,
        "closed once the grace is over"
    );
}

#[tokio::test]
async fn a_stopped_database_is_told_to_the_operator_once() {
    // AWS's own example event, about its example instance.
    let fake = Arc::new(FakeCluster::default());
    fake.set_db("my-db-instance", healthy_db());
    let deps = deps(&fake, &[("HALFHOUR_DB_INSTANCE_ID", "my-db-instance")]);
    let (stopped, now) = event("db-stopped.json");
    handle(&stopped, &at("r1", now), &deps).await.unwrap();
    handle(&stopped, &at("r2", now), &deps).await.unwrap();
    let notices: Vec<_> = fake
        .effects()
        .into_iter()
        .filter(|e| e.starts_with("Publish"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(window(&deps, now).await, None, "an outage opens no window");
}

#[tokio::test]
async fn a_tick_reports_drift_once_a_day() {
    let fake = cluster();
    fake.set_db(
        DB,
        DbInfo {
            multi_az: false,
            ..healthy_db()
        },
    );
    let deps = deps(&fake, &[]);
    let tick = json!({"action": "reconcile"});
    let (_, now) = event("failover-started.json");
    let first = handle(&tick, &at("t1", now), &deps).await.unwrap();
    let hour_later = handle(&tick, &at("t2", now.plus(Duration::from_secs(3600))), &deps)
        .await
        .unwrap();
    assert_eq!(first.drift, [Drift::MultiAzOff]);
    assert_eq!(hour_later.drift, [Drift::MultiAzOff]);
    assert_eq!(fake.effects().len(), 1, "{:?}", fake.effects());
    handle(
        &tick,
        &at("t3", now.plus(Duration::from_secs(86_400))),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(
        fake.effects().len(),
        2,
        "again a day later: {:?}",
        fake.effects()
    );
}

#[tokio::test]
async fn observe_mode_decides_and_writes_nothing() {
    let fake = cluster();
    let deps = deps(&fake, &[("HALFHOUR_DRY_RUN", "true")]);
    let (started, now) = event("failover-started.json");
    let report = handle(&started, &at("r1", now), &deps).await.unwrap();
    assert!(report.dry_run);
    assert_eq!(report.action, "open_window");
    assert_eq!(window(&deps, now).await, None);
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_zero_effects() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    let (started, now) = event("failover-started.json");
    let mut other_db = started.clone();
    other_db["detail"]["SourceArn"] = json!("arn:aws:rds:us-east-1:123456789012:db:staging-db");
    let mut mangled = started.clone();
    mangled["detail"] = json!("failover");
    each_is_bad_input(
        [
            json!([]),
            json!({}),
            json!({"action": "bake"}),
            other_db,
            mangled,
        ],
        async |payload| handle(payload, &at("bad", now), &deps).await,
    )
    .await;
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
    assert_eq!(window(&deps, now).await, None);
}

#[tokio::test]
async fn a_missing_database_is_not_found_with_zero_effects() {
    let fake = cluster();
    let deps = deps(&fake, &[("HALFHOUR_DB_INSTANCE_ID", "gone-db")]);
    let err = handle(&json!({"action": "reconcile"}), &at("t1", Millis(0)), &deps)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("gone-db"), "{err}");
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
}

//! Each function pointed at another cluster's resources: its role (its own cluster's stack, as
//! the emulator's IAM holds it) denies the call, the function surfaces a typed error that names
//! AWS's refusal, and the other cluster is left exactly as it was.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use halfhour::{ErrorKind, clock};
use halfhour_tests::loops::failover::{at, rds_event};
use halfhour_tests::loops::reconciler::{at as tick_at, reconciler_for};
use halfhour_tests::loops::{failover, scaling};
use halfhour_tests::{Cluster, Emulator};
use serde_json::json;

/// Hold `app` to `function`'s role in a freshly seeded cluster's stack: from now on it is that
/// cluster's function, configured with another cluster's resources.
async fn of_another_stack(app: &str, function: &str) -> Cluster {
    let own = Cluster::seed().await.expect("its own cluster seeded");
    Emulator::shared().bind_role(app, function, &own.name, &[]);
    own
}

/// A denial as the function surfaces it: AWS's refusal with its code, and no call of `app`
/// took effect.
fn assert_denied_with_zero_effect(err: &halfhour::Error, app: &str) {
    assert_eq!(err.kind(), ErrorKind::Aws, "{err}");
    let code = err.aws_code().unwrap_or_default();
    assert!(
        [
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation"
        ]
        .contains(&code),
        "{err}"
    );
    assert!(
        err.to_string().contains("is not authorized to perform"),
        "{err}"
    );
    let effects: Vec<_> = Emulator::shared()
        .mutating_requests(app)
        .into_iter()
        .filter(|r| (200..300).contains(&r.status))
        .collect();
    assert!(effects.is_empty(), "nothing took effect: {effects:?}");
}

#[tokio::test]
async fn the_scaler_of_one_cluster_cannot_resize_another() {
    let other = scaling::setup("iam-other-scaler", false).await;
    of_another_stack(&other.app, "scaler").await;
    let before = scaling::desired(&other).await;
    let now = clock::now();
    let event = scaling::alarm_event(&other.alarm("cpu-high"), "ALARM", now);
    let err = scaling::handle_at(&event, "other".into(), now, &other.deps)
        .await
        .unwrap_err();
    assert_denied_with_zero_effect(&err, &other.app);
    assert_eq!(
        scaling::desired(&other).await,
        before,
        "the other group untouched"
    );
}

#[tokio::test]
async fn the_database_loop_of_one_cluster_cannot_record_a_window_for_another() {
    let other = failover::setup("iam-other-db", &[]).await;
    of_another_stack(&other.db_events_app, "db-events").await;
    let event = rds_event(
        &other.cluster.db_instance_id,
        "RDS-EVENT-0013",
        "Multi-AZ instance failover started.",
    );
    let err = db_events::handle(&event, &at("db", clock::now()), &other.db_deps())
        .await
        .unwrap_err();
    assert_denied_with_zero_effect(&err, &other.db_events_app);
}

#[tokio::test]
async fn the_reconciler_of_one_cluster_cannot_drive_another_clusters_loops() {
    let other = Cluster::seed().await.unwrap();
    let deps = reconciler_for(&other, "iam-other-reconciler", false).await;
    of_another_stack("reconciler.iam-other-reconciler", "reconciler").await;
    let tick = json!({"action": "reconcile", "cluster": other.name});
    let err = reconciler::handle(&tick, &tick_at("tick", clock::now()), &deps)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not authorized to perform"),
        "{err}"
    );
    let delivered: Vec<_> = Emulator::shared()
        .requests("reconciler.iam-other-reconciler")
        .into_iter()
        .filter(|r| r.action == "Invoke" && r.status == 202)
        .collect();
    assert!(
        delivered.is_empty(),
        "no loop of the other cluster asked: {delivered:?}"
    );
}

//! The reconciler's fan-out against the emulator's Lambda.

use std::time::Duration;

use halfhour::{ErrorKind, clock};
use halfhour_tests::{Cluster, Emulator};
use reconciler::{Deps, Invocation, ReconcilerConfig, TickReport, handle};
use serde_json::{Value, json};

const LOOPS: [&str; 5] = ["gold-image", "scaler", "lifecycle", "failover", "db-events"];

/// The reconciler of a freshly seeded cluster (its stack's role), fanning out to `functions`.
async fn deps(cluster: &Cluster, app: &str, functions: &[String], dry_run: bool) -> Deps {
    let vars = [
        ("HALFHOUR_TABLE", cluster.table.clone()),
        ("HALFHOUR_CLUSTER", cluster.name.clone()),
        ("HALFHOUR_RECONCILE_FUNCTIONS", functions.join(",")),
        ("DRY_RUN", dry_run.to_string()),
    ];
    let config = ReconcilerConfig::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("valid config");
    let (sdk_config, _) = Emulator::shared()
        .function_sdk_config("reconciler", app, &cluster.name)
        .await;
    Deps::from_sdk(config, &sdk_config)
}

fn tick() -> Value {
    halfhour_tests::emulator::event("reconciler/scheduled.json")
}

fn invocation() -> Invocation {
    Invocation::new("tick", clock::now(), Duration::from_secs(30))
}

/// A seeded cluster and its loops' functions as its stack names them (`<cluster>-<loop>`), each
/// declared to the emulator's Lambda but those in `undeclared`.
async fn cluster_with_loops(undeclared: &[&str]) -> (Cluster, Vec<String>) {
    let cluster = Cluster::seed().await.expect("cluster seeded");
    let functions = LOOPS
        .iter()
        .map(|name| {
            let function = format!("{}-{name}", cluster.name);
            if !undeclared.contains(name) {
                Emulator::shared().declare_function(&function);
            }
            function
        })
        .collect();
    (cluster, functions)
}

#[tokio::test]
async fn every_minute_each_loop_is_asked_to_reconcile() {
    let (cluster, functions) = cluster_with_loops(&[]).await;
    let deps = deps(&cluster, "rc-main", &functions, false).await;
    let report: TickReport =
        serde_json::from_value(handle(&tick(), &invocation(), &deps).await.unwrap()).unwrap();
    assert_eq!(report.invoked, functions);
    let invokes: Vec<_> = Emulator::shared()
        .requests("reconciler.rc-main")
        .into_iter()
        .filter(|r| r.action == "Invoke")
        .collect();
    assert_eq!(invokes.len(), 5);
    for invoke in &invokes {
        assert_eq!(invoke.status, 202, "queued asynchronously");
        let body: Value = serde_json::from_str(invoke.params["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"action": "reconcile", "cluster": cluster.name})
        );
    }
}

#[tokio::test]
async fn a_failed_delivery_is_retryable_and_the_other_loops_are_still_asked() {
    // The scaler's function is missing (its role allows the call; Lambda has no such function).
    let (cluster, functions) = cluster_with_loops(&["scaler"]).await;
    let deps = deps(&cluster, "rc-fail", &functions, false).await;
    let err = handle(&tick(), &invocation(), &deps).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable);
    assert!(err.to_string().contains(&functions[1]), "{err}");
    let delivered = Emulator::shared()
        .requests("reconciler.rc-fail")
        .into_iter()
        .filter(|r| r.action == "Invoke" && r.status == 202)
        .count();
    assert_eq!(delivered, 4);
}

#[tokio::test]
async fn bad_input_invokes_nothing_and_observe_mode_still_asks_every_loop() {
    let (cluster, functions) = cluster_with_loops(&[]).await;
    let live = deps(&cluster, "rc-bad", &functions, false).await;
    for payload in [
        json!({"action": "reconcile", "cluster": "other"}),
        json!({"action": "bake"}),
        json!({"hello": 1}),
    ] {
        assert_eq!(
            handle(&payload, &invocation(), &live)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::BadEvent
        );
    }
    assert!(
        Emulator::shared()
            .mutating_requests("reconciler.rc-bad")
            .is_empty()
    );
    // Observe mode: every loop (itself observing) is asked to reconcile, so a trial records the
    // loops' periodic decisions too; asking is the only call.
    let dry = deps(&cluster, "rc-bad", &functions, true).await;
    let report = handle(&tick(), &invocation(), &dry).await.unwrap();
    assert_eq!(report["dry_run"], json!(true));
    assert_eq!(report["invoked"].as_array().unwrap().len(), functions.len());
    let calls: Vec<String> = Emulator::shared()
        .mutating_requests("reconciler.rc-bad")
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(calls, vec!["Invoke".to_owned(); functions.len()]);
}

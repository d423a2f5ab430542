//! The lifecycle loop's handler in process: the shipped lifecycle events against a fake cluster
//! (the group, its hooks' actions, the instances' status and their application's answer) and
//! the state table in memory, in milliseconds. The emulator suites prove the same paths through
//! the real SDK.

use std::sync::Arc;
use std::time::Duration;

use halfhour::domain::{Bounds, LifecycleState, Millis, ProbeOutcome, parse_timestamp};
use halfhour::testing::{FakeCluster, each_is_bad_input, event_fixture, lookup_over, loop_core};
use serde_json::{Value, json};

use crate::plan::LaunchDecision;
use crate::{Decision, Deps, Invocation, LifecycleConfig, handle};

const GROUP: &str = "prod-web";
/// The instance the shipped launch event is about.
const NEW: &str = "i-0598c7d356eba48d7";
const BASE: &[(&str, &str)] = &[
    ("HALFHOUR_TABLE", "state"),
    ("HALFHOUR_CLUSTER", "prod"),
    ("HALFHOUR_ASG_NAME", GROUP),
];

fn deps(cluster: &Arc<FakeCluster>, extra: &[(&str, &str)]) -> Deps {
    Deps {
        core: loop_core(
            LifecycleConfig::from_lookup(lookup_over(BASE, extra)).unwrap(),
            cluster,
        ),
        group: cluster.clone(),
        actions: cluster.clone(),
        statuses: cluster.clone(),
        probe: cluster.clone(),
        targets: cluster.clone(),
        templates: cluster.clone(),
        instances: cluster.clone(),
    }
}

/// Two instances in service and the new one held by the launch hook.
fn cluster() -> Arc<FakeCluster> {
    let fake = Arc::new(FakeCluster::with_group(
        GROUP,
        Bounds::new(2, 10).unwrap(),
        2,
    ));
    fake.launch_waiting(NEW);
    fake
}

/// The shipped launch event and a few seconds after it.
fn launch() -> (Value, Millis) {
    let event = event_fixture(env!("CARGO_MANIFEST_DIR"), "lifecycle/launch.json");
    let time = parse_timestamp(event["time"].as_str().unwrap()).unwrap();
    (event, time.plus(Duration::from_secs(5)))
}

fn at(request_id: &str, now: Millis) -> Invocation {
    Invocation::new(request_id, now, Duration::from_secs(60))
}

fn completions(fake: &FakeCluster) -> Vec<String> {
    fake.effects()
        .into_iter()
        .filter(|e| e.starts_with("CompleteLifecycleAction"))
        .collect()
}

#[tokio::test]
async fn a_healthy_launch_is_continued_once_however_often_it_is_delivered() {
    let fake = cluster();
    fake.set_probe(NEW, ProbeOutcome::Healthy);
    let deps = deps(&fake, &[]);
    let (event, now) = launch();
    let first = handle(&event, &at("r1", now), &deps).await.unwrap();
    let again = handle(&event, &at("r2", now.plus(Duration::from_secs(2))), &deps)
        .await
        .unwrap();
    assert_eq!(
        first[0].decision,
        Decision::Launch(LaunchDecision::Continue),
        "{first:?}"
    );
    assert_eq!(again, first, "a duplicate answers the first run's outcome");
    assert_eq!(
        completions(&fake),
        [format!("CompleteLifecycleAction {NEW} CONTINUE")]
    );
    assert_eq!(fake.state_of(NEW), Some(LifecycleState::InService));
}

#[tokio::test]
async fn a_broken_application_waits_within_its_budget_and_is_abandoned_after_it() {
    let fake = cluster();
    fake.set_probe(NEW, ProbeOutcome::Failing("HTTP 500".into()));
    let deps = deps(&fake, &[]);
    let (event, now) = launch();
    let first = handle(&event, &at("r1", now), &deps).await.unwrap();
    assert!(
        matches!(
            first[0].decision,
            Decision::Launch(LaunchDecision::Wait { .. })
        ),
        "{first:?}"
    );
    assert!(
        completions(&fake).is_empty(),
        "held while within the budget"
    );
    let past_the_budget = now.plus(deps.config.readiness_budget);
    let tick = handle(
        &json!({"action": "reconcile"}),
        &at("t1", past_the_budget),
        &deps,
    )
    .await
    .unwrap();
    assert!(
        tick.iter()
            .any(|o| matches!(o.decision, Decision::Launch(LaunchDecision::Abandon { .. }))),
        "{tick:?}"
    );
    assert_eq!(
        completions(&fake),
        [format!("CompleteLifecycleAction {NEW} ABANDON")]
    );
    assert_eq!(
        fake.state_of(NEW),
        None,
        "an abandoned launch is terminated"
    );
}

#[tokio::test]
async fn an_instance_ssm_cannot_reach_waits_and_is_not_sent_a_probe() {
    let fake = cluster();
    fake.set_probe(NEW, ProbeOutcome::Unreachable);
    let deps = deps(&fake, &[]);
    let (event, now) = launch();
    let outcome = handle(&event, &at("r1", now), &deps).await.unwrap();
    assert!(
        matches!(
            outcome[0].decision,
            Decision::Launch(LaunchDecision::Wait { .. })
        ),
        "{outcome:?}"
    );
    let effects = fake.effects();
    assert!(
        !effects.iter().any(|e| e.starts_with("SendCommand")),
        "{effects:?}"
    );
    assert_eq!(fake.state_of(NEW), Some(LifecycleState::PendingWait));
}

#[tokio::test]
async fn observe_mode_hands_every_launch_back_unprobed() {
    let fake = cluster();
    fake.set_probe(NEW, ProbeOutcome::Failing("HTTP 500".into()));
    let deps = deps(&fake, &[("HALFHOUR_DRY_RUN", "true")]);
    let (event, now) = launch();
    let outcome = handle(&event, &at("r1", now), &deps).await.unwrap();
    assert!(outcome[0].dry_run);
    assert_eq!(
        fake.effects(),
        [format!("CompleteLifecycleAction {NEW} CONTINUE")],
        "one hand-back, no probe: the group behaves as if it had no hook"
    );
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_zero_effects() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    let (event, now) = launch();
    let mut other_group = event.clone();
    other_group["detail"]["AutoScalingGroupName"] = json!("staging-web");
    let mut other_hook = event.clone();
    other_hook["detail"]["LifecycleHookName"] = json!("someone-elses-hook");
    let mut mangled = event.clone();
    mangled["detail"]["EC2InstanceId"] = json!("i-1234");
    each_is_bad_input(
        [
            json!([]),
            json!({}),
            json!({"action": "bake"}),
            other_group,
            other_hook,
            mangled,
        ],
        async |payload| handle(payload, &at("bad", now), &deps).await,
    )
    .await;
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
}

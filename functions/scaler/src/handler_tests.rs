//! The scaler's handler in process: the shipped alarm events against a fake cluster and the
//! state table in memory, in milliseconds. The emulator suites prove the same paths through
//! the real SDK.

use std::sync::Arc;
use std::time::Duration;

use halfhour::ErrorKind;
use halfhour::domain::{AlarmState, Bounds, Millis, parse_timestamp};
use halfhour::testing::{
    CrashAfter, CrashPoint, FakeCluster, each_is_bad_input, event_fixture, lookup_over, loop_core,
};
use serde_json::{Value, json};

use crate::plan::ScaleDecision;
use crate::{Deps, Invocation, ScalerConfig, ScalerReport, handle, invoke};

const GROUP: &str = "prod-web";
const BASE: &[(&str, &str)] = &[
    ("HALFHOUR_TABLE", "state"),
    ("HALFHOUR_CLUSTER", "prod"),
    ("HALFHOUR_ASG_NAME", GROUP),
    (
        "HALFHOUR_SCALING_ALARMS",
        "prod-cpu-high=+2,prod-cpu-low=-1",
    ),
];

fn deps(cluster: &Arc<FakeCluster>, extra: &[(&str, &str)]) -> Deps {
    Deps {
        core: loop_core(
            ScalerConfig::from_lookup(lookup_over(BASE, extra)).unwrap(),
            cluster,
        ),
        group: cluster.clone(),
        alarms: cluster.clone(),
        monitoring: cluster.clone(),
        writers: cluster.clone(),
    }
}

fn cluster(min: u32, max: u32, in_service: u32) -> Arc<FakeCluster> {
    Arc::new(FakeCluster::with_group(
        GROUP,
        Bounds::new(min, max).unwrap(),
        in_service,
    ))
}

/// The shipped alarm action (`prod-cpu-high` to ALARM) and a minute after it fired.
fn alarm_action() -> (Value, Millis) {
    let fired = parse_timestamp("2026-11-27T13:47:30.123+0000").unwrap();
    let event = event_fixture(env!("CARGO_MANIFEST_DIR"), "scaler/alarm-action.json");
    (event, fired.plus(Duration::from_secs(60)))
}

fn at(request_id: &str, now: Millis) -> Invocation {
    Invocation::new(request_id, now, Duration::from_secs(30))
}

fn capacity_writes(cluster: &FakeCluster) -> Vec<String> {
    let effects = cluster.effects();
    effects
        .into_iter()
        .filter(|e| e.starts_with("SetDesiredCapacity"))
        .collect()
}

#[tokio::test]
async fn an_alarm_steps_the_group_once_however_often_it_is_delivered() {
    let fake = cluster(2, 10, 2);
    let deps = deps(&fake, &[]);
    let (event, now) = alarm_action();
    let first = handle(&event, &at("r1", now), &deps).await.unwrap();
    let again = handle(&event, &at("r2", now.plus(Duration::from_secs(5))), &deps)
        .await
        .unwrap();
    assert!(matches!(
        first.decision,
        ScaleDecision::Set { from: 2, to: 4, .. }
    ));
    assert_eq!(first.desired, Some(4));
    assert_eq!(again, first, "a duplicate answers the first run's outcome");
    assert_eq!(capacity_writes(&fake), ["SetDesiredCapacity prod-web 4"]);
    assert_eq!(fake.group().desired, 4);
}

#[tokio::test]
async fn at_the_group_maximum_nothing_is_written() {
    let fake = cluster(2, 4, 4);
    let deps = deps(&fake, &[]);
    let (event, now) = alarm_action();
    let outcome = handle(&event, &at("r1", now), &deps).await.unwrap();
    assert!(
        matches!(outcome.decision, ScaleDecision::Hold { .. }),
        "{outcome:?}"
    );
    assert!(capacity_writes(&fake).is_empty());
    assert_eq!(fake.group().desired, 4);
}

#[tokio::test]
async fn observe_mode_decides_and_writes_nothing() {
    let fake = cluster(2, 10, 2);
    let deps = deps(&fake, &[("HALFHOUR_DRY_RUN", "true")]);
    let (event, now) = alarm_action();
    let outcome = handle(&event, &at("r1", now), &deps).await.unwrap();
    assert!(outcome.dry_run);
    assert!(matches!(
        outcome.decision,
        ScaleDecision::Set { from: 2, to: 4, .. }
    ));
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
    assert_eq!(fake.group().desired, 2);
}

#[tokio::test]
async fn a_tick_steps_for_an_alarm_still_in_alarm() {
    let fake = cluster(2, 10, 2);
    let deps = deps(&fake, &[]);
    let (_, now) = alarm_action();
    fake.set_alarm("prod-cpu-high", AlarmState::Alarm, Millis(now.0 - 600_000));
    fake.set_alarm("prod-cpu-low", AlarmState::Ok, Millis(now.0 - 600_000));
    let report = invoke(&json!({"action": "reconcile"}), &at("tick", now), &deps)
        .await
        .unwrap();
    let ScalerReport::Reconcile(outcomes) = report else {
        panic!("a tick answers per alarm: {report:?}");
    };
    assert_eq!(
        outcomes
            .iter()
            .map(|o| o.alarm.as_str())
            .collect::<Vec<_>>(),
        ["prod-cpu-high"],
        "only the alarm in ALARM is re-evaluated"
    );
    assert_eq!(capacity_writes(&fake), ["SetDesiredCapacity prod-web 4"]);
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_zero_effects() {
    let fake = cluster(2, 10, 2);
    let deps = deps(&fake, &[]);
    let (event, now) = alarm_action();
    let mut other_cluster = event.clone();
    other_cluster["alarmData"]["alarmName"] = json!("staging-cpu-high");
    let mut mangled = event.clone();
    mangled["alarmData"]["state"]["value"] = json!("SIDEWAYS");
    each_is_bad_input(
        [
            json!([]),
            json!("scale"),
            json!({}),
            json!({"action": "bake"}),
            other_cluster,
            mangled,
        ],
        async |payload| handle(payload, &at("bad", now), &deps).await,
    )
    .await;
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
}

#[tokio::test]
async fn a_missing_group_is_not_found_with_zero_effects() {
    let fake = cluster(2, 10, 2);
    let deps = deps(&fake, &[("HALFHOUR_ASG_NAME", "gone-web")]);
    let (event, now) = alarm_action();
    let err = handle(&event, &at("r1", now), &deps).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("gone-web"), "{err}");
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
}

/// A run that dies holding the lease (Lambda's timeout ends it between recording its step and
/// making it) leaves the lease and an attempt in progress behind. Another delivery of that alarm
/// (a new request id) is the same event: once the dead attempt's deadline has passed, it takes
/// the lease its event holds and makes the step, instead of waiting out the lease (five minutes)
/// as a stranger.
#[tokio::test]
async fn a_redelivery_after_a_death_under_the_lease_makes_the_step() {
    let fake = cluster(2, 10, 2);
    let point = CrashPoint::dies_before(1);
    let mut deps = deps(&fake, &[]);
    deps.group = CrashAfter::new(fake.clone(), &point);
    let deps = Arc::new(deps);
    let (event, now) = alarm_action();
    let died = {
        let (deps, event) = (deps.clone(), event.clone());
        tokio::spawn(async move { handle(&event, &at("r1", now), &deps).await }).await
    };
    assert!(died.is_err_and(|e| e.is_panic()), "the first run dies");
    assert!(capacity_writes(&fake).is_empty(), "it died before its step");

    let past_its_deadline = now.plus(Duration::from_secs(31));
    let redelivered = handle(&event, &at("r2", past_its_deadline), &deps)
        .await
        .expect("the redelivery is the same event: its lease is its own");
    assert_eq!(redelivered.desired, Some(4), "{redelivered:?}");
    assert_eq!(capacity_writes(&fake), ["SetDesiredCapacity prod-web 4"]);
}

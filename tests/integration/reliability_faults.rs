//! Every loop under injected faults: the emulator throttles (in each protocol's own error shape),
//! fails with 500/503, answers slowly and drops connections — before a request takes effect or
//! after (the answer is lost) — on a seeded 10 % of the function's requests. Lambda's retry is
//! modelled by re-driving the same event a minute later while the handler answers a retryable
//! error. Each loop must end where the fault-free run ends, with no effect applied twice, no
//! lease and nothing in Standby left behind.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::time::Duration;

use halfhour::domain::{ClusterName, Millis};
use halfhour::{Error, ErrorKind, clock};
use halfhour_tests::emulator::FaultPlan;
use halfhour_tests::{Emulator, LoggedRequest};
use serde_json::{Value, json};

use crate::{failover_dns, gold_image_bake, lifecycle_hooks, scaling_alarms};

pub(crate) const EVERY_FAULT: &[&str] = &["throttle", "500", "503", "slow", "drop", "drop_after"];
const SEEDS: [u64; 3] = [11, 22, 33];
/// Lambda retries an async event twice; the reconciler's tick re-derives after that.
const ATTEMPTS: usize = 6;

pub(crate) fn ten_percent(seed: u64) -> FaultPlan<'static> {
    FaultPlan {
        rate: 0.10,
        seed,
        kinds: EVERY_FAULT,
    }
}

/// One answer in five lost after AWS applied the request: the SDK retries the call itself, so
/// every conditional or creating call meets its own first try.
pub(crate) fn lost_answers(seed: u64) -> FaultPlan<'static> {
    FaultPlan {
        rate: 0.2,
        seed,
        kinds: &["drop_after"],
    }
}

/// Each suite runs every seed under both plans.
fn plans() -> impl Iterator<Item = (String, FaultPlan<'static>)> {
    SEEDS.into_iter().flat_map(|seed| {
        [
            (format!("mixed{seed}"), ten_percent(seed)),
            (format!("lost{seed}"), lost_answers(seed)),
        ]
    })
}

/// What Lambda retries (and the reconciler later re-derives): a fault outlasting the SDK's
/// retries, or another writer holding the cluster.
pub(crate) fn retried(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Retryable | ErrorKind::Conflict)
}

/// Run `attempt(n, now)` until it succeeds, as Lambda (then the reconciler) would: the same event
/// again a minute later while the answer is a retryable error or a lease conflict.
pub(crate) async fn redriven<T, F, Fut>(start: Millis, mut attempt: F) -> T
where
    F: FnMut(usize, Millis) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut last = None;
    for n in 0..ATTEMPTS {
        let now = start.plus(Duration::from_secs(60 * n as u64));
        match attempt(n, now).await {
            Ok(value) => return value,
            Err(err) if retried(err.kind()) => last = Some(err.to_string()),
            Err(err) => panic!(
                "a fault must surface as retryable, got {:?}: {err}",
                err.kind()
            ),
        }
    }
    panic!("no convergence after {ATTEMPTS} deliveries: {last:?}")
}

/// How many of `app`'s `action` requests took effect (answer lost or not).
pub(crate) fn effects(app: &str, action: &str) -> usize {
    applied(&Emulator::shared().requests(app), action).len()
}

fn applied<'a>(log: &'a [LoggedRequest], action: &str) -> Vec<&'a LoggedRequest> {
    log.iter()
        .filter(|r| r.action == action && r.took_effect())
        .collect()
}

/// How many faults `app` met, printed per kind for RELIABILITY.md (`--no-capture`).
fn injected(app: &str) -> u64 {
    let counts = Emulator::shared().fault_counts(app);
    let requests = Emulator::shared().requests(app).len();
    println!("faults for {app}: {requests} requests, injected {counts:?}");
    counts.values().sum()
}

#[tokio::test]
async fn scaling_under_faults_climbs_to_ten_exactly_like_the_fault_free_run() {
    for (seed, plan) in plans() {
        let s = scaling_alarms::setup(&format!("faults-scale{seed}"), false).await;
        Emulator::shared().inject_faults(&s.app, &plan);
        let mut at = clock::now();
        for i in 0..6 {
            let event = scaling_alarms::alarm_event("cpu-high", "ALARM", at);
            redriven(at, |_, now| {
                scaling_alarms::handle_at(&event, format!("r{i}"), now, &s.deps)
            })
            .await;
            at = at.plus(Duration::from_secs(121));
        }
        assert!(injected(&s.app) > 0, "seed {seed}: faults were injected");
        Emulator::shared().clear_faults(&s.app);
        assert_eq!(scaling_alarms::desired(&s).await, 10, "seed {seed}");
        let log = Emulator::shared().requests(&s.app);
        let mut targets: Vec<String> = applied(&log, "SetDesiredCapacity")
            .iter()
            .map(|r| {
                r.params["DesiredCapacity"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect();
        // A lost answer re-applies the same absolute target: harmless, and never a second step.
        targets.dedup();
        assert_eq!(targets, ["4", "6", "8", "10"], "seed {seed}");
        let cluster = ClusterName::new(&s.cluster.name).unwrap();
        assert_eq!(s.deps.store.read_lease(&cluster).await.unwrap(), None);
    }
}

#[tokio::test]
async fn launches_and_terminations_under_faults_complete_each_instance_once() {
    for (seed, plan) in plans() {
        let s = lifecycle_hooks::setup(&format!("faults-life{seed}"), &[]).await;
        Emulator::shared().inject_faults(&s.app, &plan);
        lifecycle_hooks::set_desired(&s, 4).await;
        for pass in 0..2 {
            for event in lifecycle_hooks::waiting_actions(&s) {
                redriven(lifecycle_hooks::event_time(), |n, now| {
                    lifecycle_hooks::handle_at(&event, format!("{pass}-{n}"), now, &s.deps)
                })
                .await;
            }
        }
        lifecycle_hooks::set_desired(&s, 2).await;
        for event in lifecycle_hooks::waiting_actions(&s) {
            redriven(lifecycle_hooks::event_time(), |n, now| {
                lifecycle_hooks::handle_at(&event, format!("t-{n}"), now, &s.deps)
            })
            .await;
        }
        assert!(injected(&s.app) > 0, "seed {seed}: faults were injected");
        Emulator::shared().clear_faults(&s.app);
        let in_service = s
            .cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap();
        assert_eq!(in_service.len(), 2, "seed {seed}: back to 2 InService");
        assert!(
            lifecycle_hooks::waiting_actions(&s).is_empty(),
            "seed {seed}: nothing waits"
        );
        let log = Emulator::shared().requests(&s.app);
        let mut completed: Vec<String> = applied(&log, "CompleteLifecycleAction")
            .iter()
            .map(|r| r.params["InstanceId"].as_str().unwrap_or("?").to_owned())
            .collect();
        let total = completed.len();
        completed.sort();
        completed.dedup();
        assert_eq!(
            total,
            completed.len(),
            "seed {seed}: each instance completed once"
        );
        assert_eq!(total, 4, "seed {seed}: two launches and two terminations");
    }
}

#[tokio::test]
async fn failover_under_faults_fails_over_and_back_once() {
    let emulator = Emulator::shared();
    for (seed, plan) in plans() {
        let s = failover_dns::setup(&format!("faults-fo{seed}"), &[]).await;
        emulator.inject_faults(&s.app, &plan);
        emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
        let down = failover_dns::health_alarm("ALARM");
        redriven(failover_dns::t0(), |n, now| {
            failover_dns::handle_at(&down, format!("a{n}"), now, &s.deps)
        })
        .await;
        assert_eq!(s.answer(), "SECONDARY", "seed {seed}");
        emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
        // Ticks every minute until the hold-down is over (retries shift a tick, never skip one).
        let mut minute = 1;
        while s.answer() == "SECONDARY" {
            assert!(
                minute <= 15,
                "seed {seed}: DNS came back within the hold-down and retries"
            );
            let tick = json!({"action": "reconcile"});
            redriven(failover_dns::after(60 * minute), |n, now| {
                failover_dns::handle_at(&tick, format!("t{minute}-{n}"), now, &s.deps)
            })
            .await;
            minute += 1;
        }
        assert!(injected(&s.app) > 0, "seed {seed}: faults were injected");
        emulator.clear_faults(&s.app);
        assert_eq!(s.answer(), "PRIMARY", "seed {seed}");
        let log = emulator.requests(&s.app);
        let thresholds: Vec<Value> = applied(&log, "UpdateHealthCheck")
            .iter()
            .map(|r| r.params["body"].clone())
            .collect();
        assert!(
            (1..=4).contains(&thresholds.len()),
            "seed {seed}: the gate moved to hold static and back (a lost answer may repeat the same move): {}",
            thresholds.len()
        );
        let cluster = ClusterName::new(&s.cluster.name).unwrap();
        assert_eq!(s.deps.store.read_lease(&cluster).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_bake_under_faults_makes_one_image_one_version_one_refresh() {
    bake_under(ten_percent).await;
}

#[tokio::test]
async fn a_bake_whose_answers_are_often_lost_still_applies_each_step_once() {
    bake_under(lost_answers).await;
}

async fn bake_under(plan: impl Fn(u64) -> FaultPlan<'static>) {
    let emulator = Emulator::shared();
    for seed in SEEDS {
        let s = gold_image_bake::setup(
            &format!("faults-bake{seed}-{}", plan(seed).kinds.len()),
            false,
            &[("HALFHOUR_BAKE_DB_SNAPSHOT", "false")],
        )
        .await;
        gold_image_bake::three_in_service(&s).await;
        emulator.inject_faults(&s.app, &plan(seed));
        let bake = gold_image_bake::bake_request(&s.cluster);
        let started = redriven(clock::now(), |n, now| {
            gold_image_bake::handle_at(&bake, format!("bake-{n}"), now, &s.deps)
        })
        .await;
        let image = gold_image_bake::image_of(&started);
        emulator.set_image_state(&image, "available");
        let available = gold_image_bake::ami_event(&image, "available");
        let mut tick = 0;
        loop {
            let report = redriven(clock::now(), |n, now| {
                gold_image_bake::handle_at(&available, format!("ami-{tick}-{n}"), now, &s.deps)
            })
            .await;
            if report.steps.contains(&json!("Finish")) || report.steps.is_empty() {
                break;
            }
            tick += 1;
            assert!(
                tick < 10,
                "seed {seed}: the bake finished: {:?}",
                report.steps
            );
        }
        assert!(injected(&s.app) > 0, "seed {seed}: faults were injected");
        emulator.clear_faults(&s.app);
        let log = emulator.requests(&s.app);
        assert_eq!(
            applied(&log, "CreateImage").len(),
            1,
            "seed {seed}: one image"
        );
        let versions = aws_sdk_ec2::Client::new(&s.config)
            .describe_launch_template_versions()
            .launch_template_id(&s.cluster.launch_template_id)
            .send()
            .await
            .unwrap();
        let with_image = versions
            .launch_template_versions()
            .iter()
            .filter(|v| v.launch_template_data().and_then(|d| d.image_id()) == Some(image.as_str()))
            .count();
        assert_eq!(with_image, 1, "seed {seed}: one launch-template version");
        assert_eq!(
            applied(&log, "StartInstanceRefresh").len(),
            1,
            "seed {seed}: one refresh"
        );
        assert!(
            gold_image_bake::in_standby(&s).await.is_empty(),
            "seed {seed}: nothing left in Standby"
        );
        assert_eq!(
            gold_image_bake::default_image(&s).await.as_deref(),
            Some(image.as_str())
        );
        let cluster = ClusterName::new(&s.cluster.name).unwrap();
        assert_eq!(s.deps.store.read_lease(&cluster).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_fault_that_outlasts_the_retries_is_a_retryable_error_and_changes_nothing() {
    let s = scaling_alarms::setup("faults-storm", false).await;
    let emulator = Emulator::shared();
    emulator.inject_faults(
        &s.app,
        &FaultPlan {
            rate: 1.0,
            seed: 1,
            kinds: &["throttle", "503"],
        },
    );
    let now = clock::now();
    let err = scaling_alarms::handle_at(
        &scaling_alarms::alarm_event("cpu-high", "ALARM", now),
        "r1".into(),
        now,
        &s.deps,
    )
    .await
    .unwrap_err();
    emulator.clear_faults(&s.app);
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    let log = emulator.requests(&s.app);
    assert!(log.iter().all(|r| !r.took_effect()), "nothing took effect");
    assert!(
        log.len() >= 3,
        "the SDK's standard retry tried 3 times: {}",
        log.len()
    );
    assert_eq!(scaling_alarms::desired(&s).await, 2);
}

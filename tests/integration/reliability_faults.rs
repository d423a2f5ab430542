//! Every loop under injected faults: the emulator throttles (in each protocol's own error shape),
//! fails with 500/503, answers slowly and drops connections — before a request takes effect or
//! after (the answer is lost) — on a seeded 10 % of the function's requests. Lambda's retry is
//! modelled by re-driving the same event a minute later while the handler answers a retryable
//! error. Each loop must end where the fault-free run ends, with no effect applied twice, no
//! lease and nothing in Standby left behind.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gold_image::plan::Step;
use halfhour::domain::ClusterName;
use halfhour::{ErrorKind, clock};
use halfhour_tests::Emulator;
use halfhour_tests::emulator::FaultPlan;
use serde_json::{Value, json};

use halfhour_tests::faults::{applied, lost_answers, redriven, ten_percent};
use halfhour_tests::loops;

const SEEDS: [u64; 3] = [11, 22, 33];
/// Each suite runs every seed under both plans.
fn plans() -> impl Iterator<Item = (String, FaultPlan<'static>)> {
    SEEDS.into_iter().flat_map(|seed| {
        [
            (format!("mixed{seed}"), ten_percent(seed)),
            (format!("lost{seed}"), lost_answers(seed)),
        ]
    })
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
        let s = loops::scaling::setup(&format!("faults-scale{seed}"), false).await;
        Emulator::shared().inject_faults(&s.app, &plan);
        let mut at = clock::now();
        for i in 0..6 {
            let event = loops::scaling::alarm_event(&s.alarm("cpu-high"), "ALARM", at);
            redriven(at, |_, now| {
                loops::scaling::handle_at(&event, format!("r{i}"), now, &s.deps)
            })
            .await;
            at = at.plus(Duration::from_secs(121));
        }
        assert!(injected(&s.app) > 0, "seed {seed}: faults were injected");
        Emulator::shared().clear_faults(&s.app);
        assert_eq!(loops::scaling::desired(&s).await, 10, "seed {seed}");
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
        let s = loops::lifecycle::setup(&format!("faults-life{seed}"), &[]).await;
        Emulator::shared().inject_faults(&s.app, &plan);
        loops::lifecycle::set_desired(&s, 4).await;
        for pass in 0..2 {
            for event in loops::lifecycle::waiting_actions(&s) {
                redriven(loops::lifecycle::event_time(), |n, now| {
                    loops::lifecycle::handle_at(&event, format!("{pass}-{n}"), now, &s.deps)
                })
                .await;
            }
        }
        loops::lifecycle::set_desired(&s, 2).await;
        for event in loops::lifecycle::waiting_actions(&s) {
            redriven(loops::lifecycle::event_time(), |n, now| {
                loops::lifecycle::handle_at(&event, format!("t-{n}"), now, &s.deps)
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
            loops::lifecycle::waiting_actions(&s).is_empty(),
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
        let s = loops::failover::setup(&format!("faults-fo{seed}"), &[]).await;
        emulator.inject_faults(&s.app, &plan);
        emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
        let down = loops::failover::health_alarm("ALARM");
        redriven(loops::failover::t0(), |n, now| {
            loops::failover::handle_at(&down, format!("a{n}"), now, &s.deps)
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
            redriven(loops::failover::after(60 * minute), |n, now| {
                loops::failover::handle_at(&tick, format!("t{minute}-{n}"), now, &s.deps)
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
        let s = loops::gold_image::setup(
            &format!("faults-bake{seed}-{}", plan(seed).kinds.len()),
            false,
            &[("HALFHOUR_BAKE_DB_SNAPSHOT", "false")],
        )
        .await;
        loops::gold_image::three_in_service(&s).await;
        emulator.inject_faults(&s.app, &plan(seed));
        let bake = loops::gold_image::bake_request(&s.cluster);
        let started = redriven(clock::now(), |n, now| {
            loops::gold_image::handle_at(&bake, format!("bake-{n}"), now, &s.deps)
        })
        .await;
        let image = loops::gold_image::image_of(&started);
        emulator.set_image_state(&image, "available");
        let available = loops::gold_image::ami_event(&image, "available");
        let mut tick = 0;
        loop {
            let report = redriven(clock::now(), |n, now| {
                loops::gold_image::handle_at(&available, format!("ami-{tick}-{n}"), now, &s.deps)
            })
            .await;
            if report.steps.contains(&Step::Finish) || report.steps.is_empty() {
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
            loops::gold_image::in_standby(&s).await.is_empty(),
            "seed {seed}: nothing left in Standby"
        );
        assert_eq!(
            loops::gold_image::default_image(&s).await.as_deref(),
            Some(image.as_str())
        );
        let cluster = ClusterName::new(&s.cluster.name).unwrap();
        assert_eq!(s.deps.store.read_lease(&cluster).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_fault_that_outlasts_the_retries_is_a_retryable_error_and_changes_nothing() {
    let s = loops::scaling::setup("faults-storm", false).await;
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
    let err = loops::scaling::handle_at(
        &loops::scaling::alarm_event(&s.alarm("cpu-high"), "ALARM", now),
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
    assert_eq!(loops::scaling::desired(&s).await, 2);
}

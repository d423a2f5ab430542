//! Crash consistency: each loop's handler is stopped at every mutating AWS call of its path —
//! the call takes effect, its answer is lost and the handler is cut off from AWS from then on,
//! which is what AWS sees of a Lambda killed there — then the same event is re-driven a minute
//! later (Lambda's retry). Every crash point must converge to the fault-free end state with no
//! effect applied twice and no lease left. (The gold-image bake has its own per-step crash
//! suite in `gold_image_bake`.)

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use halfhour::domain::{ClusterName, Millis};
use halfhour::ports::StateStore;
use halfhour_tests::Emulator;
use serde_json::json;

use halfhour_tests::faults::{effects, redriven, retried};
use halfhour_tests::loops;

fn mutating_calls(app: &str) -> usize {
    Emulator::shared().mutating_requests(app).len()
}

async fn no_lease(store: &dyn StateStore, cluster: &str) -> bool {
    let cluster = ClusterName::new(cluster).unwrap();
    store.read_lease(&cluster).await.unwrap().is_none()
}

/// A loop that takes the lease only to act may converge without it: a re-drive that finds the
/// killed invocation's change already made holds, and leaves that invocation's lease to expire.
/// What may be left is that lease alone, freed by its TTL; no re-drive leaves one.
async fn only_the_killed_lease(
    store: &dyn StateStore,
    cluster: &str,
    killed: &str,
    killed_at: Millis,
    ttl: Duration,
) -> bool {
    let cluster = ClusterName::new(cluster).unwrap();
    match store.read_lease(&cluster).await.unwrap() {
        None => true,
        Some(lease) => lease.owner == killed && lease.until <= killed_at.plus(ttl),
    }
}

#[tokio::test]
async fn a_scale_out_killed_at_any_call_converges_on_re_drive() {
    let emulator = Emulator::shared();
    let probe = loops::scaling::setup("crash-scale-probe", false).await;
    let now = halfhour::clock::now();
    let event =
        |s: &loops::scaling::Setup| loops::scaling::alarm_event(&s.alarm("cpu-high"), "ALARM", now);
    loops::scaling::handle_at(&event(&probe), "r".into(), now, &probe.deps)
        .await
        .unwrap();
    let points = mutating_calls(&probe.app);
    println!("crash points for {}: {points}", probe.app);
    assert!(
        points >= 3,
        "lease, idempotency, capacity at least: {points}"
    );
    for crash_at in 1..=points {
        let s = loops::scaling::setup(&format!("crash-scale{crash_at}"), false).await;
        let event = event(&s);
        emulator.crash_after(&s.app, crash_at);
        let first = loops::scaling::handle_at(&event, "r".into(), now, &s.deps).await;
        emulator.clear_faults(&s.app);
        if let Err(err) = &first {
            assert!(retried(err.kind()), "crash at {crash_at}: {err}");
        }
        redriven(now, |n, at| {
            loops::scaling::handle_at(&event, format!("r{n}"), at, &s.deps)
        })
        .await;
        assert_eq!(loops::scaling::desired(&s).await, 4, "crash at {crash_at}");
        assert_eq!(
            effects(&s.app, "SetDesiredCapacity").min(1),
            1,
            "crash at {crash_at}"
        );
        let targets: Vec<_> = Emulator::shared()
            .requests(&s.app)
            .into_iter()
            .filter(|r| r.action == "SetDesiredCapacity" && r.took_effect())
            .map(|r| r.params["DesiredCapacity"].clone())
            .collect();
        assert!(
            targets.iter().all(|t| t == &json!("4")),
            "crash at {crash_at}: one step only: {targets:?}"
        );
        // The lease an alarm's run holds is its event's: the alarm and when it changed.
        let killed = format!("scaler:{}@{}", s.alarm("cpu-high"), now.0 / 1000 * 1000);
        let ttl = s.deps.config.common.lease;
        assert!(
            only_the_killed_lease(s.deps.store.as_ref(), &s.cluster.name, &killed, now, ttl).await,
            "crash at {crash_at}"
        );
    }
}

#[tokio::test]
async fn a_launch_killed_at_any_call_converges_on_re_drive() {
    let emulator = Emulator::shared();
    let probe = loops::lifecycle::setup("crash-life-probe", &[]).await;
    let instance = loops::lifecycle::launch_one(&probe).await;
    let event = loops::lifecycle::lifecycle_event(&probe, &instance);
    let start = loops::lifecycle::event_time();
    loops::lifecycle::handle_at(&event, "l".into(), start, &probe.deps)
        .await
        .unwrap();
    let points = mutating_calls(&probe.app);
    println!("crash points for {}: {points}", probe.app);
    assert!(points >= 2, "{points}");
    for crash_at in 1..=points {
        let s = loops::lifecycle::setup(&format!("crash-life{crash_at}"), &[]).await;
        let instance = loops::lifecycle::launch_one(&s).await;
        let event = loops::lifecycle::lifecycle_event(&s, &instance);
        emulator.crash_after(&s.app, crash_at);
        let first = loops::lifecycle::handle_at(&event, "l".into(), start, &s.deps).await;
        emulator.clear_faults(&s.app);
        if let Err(err) = &first {
            assert!(retried(err.kind()), "crash at {crash_at}: {err}");
        }
        // Lambda's retry, then (if the event is spent) the reconciler's tick drives what waits.
        redriven(start, |n, at| {
            loops::lifecycle::handle_at(&event, format!("l{n}"), at, &s.deps)
        })
        .await;
        let tick = json!({"action": "reconcile"});
        redriven(start, |n, at| {
            loops::lifecycle::handle_at(&tick, format!("t{n}"), at, &s.deps)
        })
        .await;
        let in_service = s
            .cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap();
        assert!(
            in_service.contains(&instance),
            "crash at {crash_at}: {instance} is InService"
        );
        assert_eq!(
            effects(&s.app, "CompleteLifecycleAction"),
            1,
            "crash at {crash_at}: completed once"
        );
        assert!(
            no_lease(s.deps.store.as_ref(), &s.cluster.name).await,
            "crash at {crash_at}"
        );
    }
}

#[tokio::test]
async fn a_fail_over_killed_at_any_call_converges_on_re_drive() {
    let emulator = Emulator::shared();
    let event = loops::failover::health_alarm("ALARM");
    let probe = loops::failover::setup("crash-fo-probe", &[]).await;
    emulator.set_health_check_status(&probe.cluster.site_health_check_id, false);
    loops::failover::handle_at(&event, "a".into(), loops::failover::t0(), &probe.deps)
        .await
        .unwrap();
    let points = mutating_calls(&probe.app);
    println!("crash points for {}: {points}", probe.app);
    assert!(points >= 3, "page, gate, state at least: {points}");
    for crash_at in 1..=points {
        let s = loops::failover::setup(&format!("crash-fo{crash_at}"), &[]).await;
        emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
        emulator.crash_after(&s.app, crash_at);
        let first =
            loops::failover::handle_at(&event, "a".into(), loops::failover::t0(), &s.deps).await;
        emulator.clear_faults(&s.app);
        if let Err(err) = &first {
            assert!(retried(err.kind()), "crash at {crash_at}: {err}");
        }
        let report = redriven(loops::failover::t0(), |n, at| {
            loops::failover::handle_at(&event, format!("a{n}"), at, &s.deps)
        })
        .await;
        assert_eq!(report.gate, "HoldStatic", "crash at {crash_at}");
        assert_eq!(s.answer(), "SECONDARY", "crash at {crash_at}");
        let (t0, ttl) = (loops::failover::t0(), s.deps.config.common.lease);
        assert!(
            only_the_killed_lease(
                s.deps.store.as_ref(),
                &s.cluster.name,
                "failover:a",
                t0,
                ttl
            )
            .await,
            "crash at {crash_at}"
        );
    }
}

#[tokio::test]
async fn a_db_failover_event_killed_at_any_call_converges_on_re_drive() {
    let emulator = Emulator::shared();
    let probe = loops::failover::setup("crash-db-probe", &[]).await;
    let event = loops::failover::rds_event(
        &probe.cluster.db_instance_id,
        "RDS-EVENT-0013",
        "failover started",
    );
    let db = probe.db_deps();
    db_events::handle(
        &event,
        &loops::failover::at("d", loops::failover::t0()),
        &db,
    )
    .await
    .unwrap();
    let points = mutating_calls(&probe.db_events_app);
    println!("crash points for {}: {points}", probe.db_events_app);
    assert!(points >= 1, "{points}");
    for crash_at in 1..=points {
        let s = loops::failover::setup(&format!("crash-db{crash_at}"), &[]).await;
        let event = loops::failover::rds_event(
            &s.cluster.db_instance_id,
            "RDS-EVENT-0013",
            "failover started",
        );
        let db = s.db_deps();
        emulator.crash_after(&s.db_events_app, crash_at);
        let first = db_events::handle(
            &event,
            &loops::failover::at("d", loops::failover::t0()),
            &db,
        )
        .await;
        emulator.clear_faults(&s.db_events_app);
        if let Err(err) = &first {
            assert!(retried(err.kind()), "crash at {crash_at}: {err}");
        }
        let report = redriven(loops::failover::t0(), |n, at| {
            let invocation = loops::failover::at(&format!("d{n}"), at);
            let (event, db) = (&event, &db);
            async move { db_events::handle(event, &invocation, db).await }
        })
        .await;
        assert!(
            report.window_until.is_some(),
            "crash at {crash_at}: the window is open"
        );
        let cluster = ClusterName::new(&s.cluster.name).unwrap();
        let flags = s.deps.store.read_flags(&cluster).await.unwrap();
        assert!(
            flags.is_raised(
                halfhour::domain::Flag::DbFailover,
                loops::failover::after(60)
            ),
            "crash at {crash_at}: the other loops see the window"
        );
    }
}

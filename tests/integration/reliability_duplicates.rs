//! Duplicate storms: every event type delivered 50 times at once, as at-least-once delivery
//! (EventBridge, SNS, Lambda's async retries) can. Each delivery runs, replays the first one's
//! result, or is told to retry (a conflict Lambda retries a minute later); the effect happens
//! exactly once. (The scaler's 50× alarm storm is in `scaling_alarms`.)

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;

use halfhour::domain::{Flag, Millis};
use halfhour::{Error, clock};
use halfhour_tests::Emulator;

use halfhour_tests::faults::{effects, redriven, retried};
use halfhour_tests::loops;

const STORM: usize = 50;

/// 50 concurrent deliveries, then Lambda's retry of each one that was told to retry.
async fn storm<T, F, Fut>(start: Millis, deliver: F)
where
    T: Send + 'static,
    F: Fn(String, Millis) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    let deliver = Arc::new(deliver);
    let tasks: Vec<_> = (0..STORM)
        .map(|i| {
            let deliver = Arc::clone(&deliver);
            tokio::spawn(async move { (i, deliver(format!("dup-{i}"), start).await) })
        })
        .collect();
    let mut told_to_retry = Vec::new();
    for task in tasks {
        let (i, outcome) = task.await.expect("delivery task");
        if let Err(err) = outcome {
            assert!(retried(err.kind()), "delivery {i}: {err}");
            told_to_retry.push(i);
        }
    }
    // Lambda retries them later, once the storm is over (a minute or more on the clock).
    for i in told_to_retry {
        let deliver = Arc::clone(&deliver);
        redriven(
            start.plus(std::time::Duration::from_secs(60)),
            move |n, at| deliver(format!("dup-{i}-retry{n}"), at),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_launch_and_fifty_terminate_deliveries_complete_once_each() {
    let s = Arc::new(loops::lifecycle::setup("dup-life", &[]).await);
    let instance = loops::lifecycle::launch_one(&s).await;
    let launch = loops::lifecycle::lifecycle_event(&s, &instance);
    let deps = Arc::clone(&s.deps);
    storm(loops::lifecycle::event_time(), move |id, at| {
        let (deps, launch) = (Arc::clone(&deps), launch.clone());
        async move { loops::lifecycle::handle_at(&launch, id, at, &deps).await }
    })
    .await;
    assert!(
        s.cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap()
            .contains(&instance)
    );
    assert_eq!(effects(&s.app, "CompleteLifecycleAction"), 1);

    loops::lifecycle::set_desired(&s, 2).await;
    let leaving = s
        .cluster
        .instances_in(&s.config, "Terminating:Wait")
        .await
        .unwrap();
    assert_eq!(leaving.len(), 1);
    let terminate = loops::lifecycle::lifecycle_event(&s, &leaving[0]);
    let deps = Arc::clone(&s.deps);
    storm(loops::lifecycle::event_time(), move |id, at| {
        let (deps, terminate) = (Arc::clone(&deps), terminate.clone());
        async move { loops::lifecycle::handle_at(&terminate, id, at, &deps).await }
    })
    .await;
    assert!(loops::lifecycle::waiting_actions(&s).is_empty());
    assert_eq!(
        effects(&s.app, "CompleteLifecycleAction"),
        2,
        "one per instance"
    );
    // The group deregisters a leaving instance itself before the hook; halfhour at most once.
    assert!(
        effects(&s.app, "DeregisterTargets") <= 1,
        "drained at most once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_site_health_alarms_fail_over_once() {
    let s = loops::failover::setup("dup-fo", &[]).await;
    Emulator::shared().set_health_check_status(&s.cluster.site_health_check_id, false);
    let deps = Arc::clone(&s.deps);
    storm(loops::failover::t0(), move |id, at| {
        let deps = Arc::clone(&deps);
        async move {
            loops::failover::handle_at(&loops::failover::health_alarm("ALARM"), id, at, &deps).await
        }
    })
    .await;
    assert_eq!(s.answer(), "SECONDARY");
    assert_eq!(
        effects(&s.app, "UpdateHealthCheck"),
        1,
        "the gate moved once"
    );
    assert_eq!(effects(&s.app, "Publish"), 1, "one notification");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_db_failover_events_open_one_window() {
    let s = loops::failover::setup("dup-db", &[]).await;
    let event = loops::failover::rds_event(
        &s.cluster.db_instance_id,
        "RDS-EVENT-0013",
        "failover started",
    );
    let db = Arc::new(s.db_deps());
    storm(loops::failover::t0(), move |id, at| {
        let (db, event) = (Arc::clone(&db), event.clone());
        async move { db_events::handle(&event, &loops::failover::at(&id, at), &db).await }
    })
    .await;
    let cluster = halfhour::domain::ClusterName::new(&s.cluster.name).unwrap();
    let flags = s.deps.store.read_flags(&cluster).await.unwrap();
    assert!(flags.is_raised(Flag::DbFailover, loops::failover::after(1)));
    assert!(
        effects(&s.db_events_app, "Publish") <= 1,
        "at most one notification"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_bake_requests_and_fifty_ami_events_make_one_image_and_one_roll_out() {
    let emulator = Emulator::shared();
    let s = loops::gold_image::setup("dup-bake", false, &[("HALFHOUR_BAKE_DB_SNAPSHOT", "false")])
        .await;
    loops::gold_image::three_in_service(&s).await;
    // Fifty operators asking at once: one bake runs, the others are refused or told to retry.
    let bake = loops::gold_image::bake_request(&s.cluster);
    let deps = Arc::clone(&s.deps);
    let tasks: Vec<_> = (0..STORM)
        .map(|i| {
            let (deps, bake) = (Arc::clone(&deps), bake.clone());
            tokio::spawn(async move {
                loops::gold_image::handle_at(&bake, format!("bake-{i}"), clock::now(), &deps).await
            })
        })
        .collect();
    let mut started = None;
    for task in tasks {
        if let Ok(report) = task.await.unwrap()
            && report.bake.is_some()
        {
            started.get_or_insert(report);
        }
    }
    let image = loops::gold_image::image_of(&started.expect("one bake started"));
    assert_eq!(effects(&s.app, "CreateImage"), 1, "one image");

    emulator.set_image_state(&image, "available");
    let available = loops::gold_image::ami_event(&image, "available");
    let deps = Arc::clone(&s.deps);
    storm(clock::now(), move |id, at| {
        let (deps, available) = (Arc::clone(&deps), available.clone());
        async move { loops::gold_image::handle_at(&available, id, at, &deps).await }
    })
    .await;
    assert_eq!(effects(&s.app, "ExitStandby"), 1);
    assert_eq!(effects(&s.app, "CreateLaunchTemplateVersion"), 1);
    assert_eq!(effects(&s.app, "StartInstanceRefresh"), 1);
    assert_eq!(
        loops::gold_image::default_image(&s).await.as_deref(),
        Some(image.as_str())
    );
}

//! First contact: the kill switch (`pause`/`resume`), the overrides (`pin-primary`, `cancel`),
//! the cluster-wide `status`, and observe mode, each shown by what the cluster does.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use halfhour::ErrorKind;
use halfhour_tests::{Cluster, Emulator};
use serde_json::{Value, json};

use halfhour_tests::loops;
use halfhour_tests::loops::every::every_loop;
use halfhour_tests::loops::reconciler::{at, reconciler_for};

async fn desired(config: &aws_config::SdkConfig, cluster: &Cluster) -> i32 {
    cluster.desired_capacity(config).await.unwrap()
}

async fn gate_threshold(config: &aws_config::SdkConfig, gate: &str) -> i32 {
    aws_sdk_route53::Client::new(config)
        .get_health_check()
        .health_check_id(gate)
        .send()
        .await
        .unwrap()
        .health_check()
        .unwrap()
        .health_check_config()
        .unwrap()
        .health_threshold()
        .unwrap()
}

/// The cluster-changing calls `app` made after its first `skip` requests: everything but the
/// state table (the shared brain) and notifications.
fn cluster_calls(app: &str, skip: usize) -> Vec<String> {
    Emulator::shared()
        .requests(app)
        .into_iter()
        .skip(skip)
        .filter(|r| {
            r.mutating && r.took_effect() && !matches!(r.service.as_str(), "dynamodb" | "sns")
        })
        .map(|r| r.action)
        .collect()
}

#[tokio::test]
async fn pause_stops_every_loop_keeps_launches_flowing_and_resume_restores() {
    let emulator = Emulator::shared();
    let app = "switch-pause";
    let (cluster, seed, loops) = every_loop(app).await;
    let reconciler = reconciler_for(&cluster, app, false).await;
    let t0 = loops::failover::t0();
    let later = |secs: u64| t0.plus(Duration::from_secs(secs));
    let resolve = || emulator.resolve(&cluster.hosted_zone_id, &cluster.record_name);

    // Before the pause the site went down and halfhour holds DNS on the static page.
    emulator.set_health_check_status(&cluster.site_health_check_id, false);
    failover::handle(
        &json!({"action": "reconcile"}),
        &at("fo-0", t0),
        &loops.failover,
    )
    .await
    .unwrap();
    assert_eq!(
        gate_threshold(&seed, &cluster.gate_health_check_id).await,
        2
    );

    let paused = reconciler::handle(
        &json!({"action": "pause", "reason": "the health check is wrong"}),
        &at("pause", later(1)),
        &reconciler,
    )
    .await
    .unwrap();
    assert_eq!(
        (&paused["paused"], &paused["unchanged"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(
        paused["tick"]["invoked"].as_array().unwrap().len(),
        4,
        "every loop is asked to hand the cluster back at once"
    );
    let apps = ["scaler", "lifecycle", "failover", "gold-image", "db-events"]
        .map(|f| format!("{f}.{app}"));
    let before: Vec<usize> = apps.iter().map(|a| emulator.requests(a).len()).collect();
    let desired_before = desired(&seed, &cluster).await;

    // Scaling: a CPU storm changes nothing.
    for n in 0..3 {
        let event = loops::scaling::alarm_event(
            &format!("{}-cpu-high", cluster.name),
            "ALARM",
            later(10 + n),
        );
        let outcome = scaler::handle(
            &event,
            &at(&format!("cpu-{n}"), later(10 + n)),
            &loops.scaler,
        )
        .await
        .unwrap();
        assert_eq!(
            json!(outcome.decision),
            json!({"Hold": {"reason": "Paused"}})
        );
    }
    assert_eq!(desired(&seed, &cluster).await, desired_before);

    // Lifecycle: someone else scales out; the launch goes InService at once, unprobed, even
    // though its probe would fail.
    emulator.set_group_probe(&cluster.asg_name, false);
    aws_sdk_autoscaling::Client::new(&seed)
        .set_desired_capacity()
        .auto_scaling_group_name(&cluster.asg_name)
        .desired_capacity(desired_before + 1)
        .send()
        .await
        .unwrap();
    let launched = cluster.instances_in(&seed, "Pending:Wait").await.unwrap();
    assert_eq!(launched.len(), 1);
    for event in loops::lifecycle::waiting_actions_of(&cluster.asg_name) {
        let outcomes = lifecycle::handle(&event, &at("launch", later(20)), &loops.lifecycle)
            .await
            .unwrap();
        assert_eq!(
            json!(outcomes[0].decision),
            json!({"FailOpen": {"why": "Paused"}})
        );
    }
    assert!(
        cluster
            .instances_in(&seed, "InService")
            .await
            .unwrap()
            .contains(&launched[0]),
        "the launch flows while paused"
    );

    // ...and someone else scales back in: the termination is not held for a drain either.
    aws_sdk_autoscaling::Client::new(&seed)
        .set_desired_capacity()
        .auto_scaling_group_name(&cluster.asg_name)
        .desired_capacity(desired_before)
        .send()
        .await
        .unwrap();
    let leaving = cluster
        .instances_in(&seed, "Terminating:Wait")
        .await
        .unwrap();
    assert_eq!(leaving.len(), 1);
    for event in loops::lifecycle::waiting_actions_of(&cluster.asg_name) {
        let outcomes = lifecycle::handle(&event, &at("leave", later(25)), &loops.lifecycle)
            .await
            .unwrap();
        assert_eq!(
            json!(outcomes[0].decision),
            json!({"FailOpen": {"why": "Paused"}})
        );
    }
    assert!(
        cluster
            .instances_in(&seed, "Terminating:Wait")
            .await
            .unwrap()
            .is_empty(),
        "the termination goes on at once while paused"
    );

    // Failover: DNS is handed back to Route53's own health check (the gate follows the site).
    let report = failover::handle(
        &loops::failover::health_alarm("ALARM"),
        &at("fo-1", later(30)),
        &loops.failover,
    )
    .await
    .unwrap();
    assert_eq!(report.reason.map(|r| json!(r)), Some(json!("Paused")));
    assert_eq!(
        gate_threshold(&seed, &cluster.gate_health_check_id).await,
        1
    );
    emulator.set_health_check_status(&cluster.site_health_check_id, true);
    assert_eq!(resolve(), "PRIMARY", "Route53 follows the site by itself");

    // Gold image: no bake starts.
    let refused = gold_image::handle(
        &loops::gold_image::bake_request(&cluster),
        &at("bake", later(40)),
        &loops.gold,
    )
    .await
    .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert!(refused.to_string().contains("resume"), "{refused}");

    // Database: it only records windows the others respect, so it runs on while paused.
    let window = db_events::handle(
        &loops::failover::rds_event(
            &cluster.db_instance_id,
            "RDS-EVENT-0013",
            "Multi-AZ instance failover started.",
        ),
        &at("db", later(45)),
        &loops.db,
    )
    .await
    .unwrap();
    assert_eq!(window.action, "open_window");
    let closing = db_events::handle(
        &loops::failover::rds_event(
            &cluster.db_instance_id,
            "RDS-EVENT-0015",
            "Multi-AZ instance failover completed.",
        ),
        &at("db-done", later(46)),
        &loops.db,
    )
    .await
    .unwrap();
    assert_eq!(closing.action, "close_window_after_grace");

    // The reconciler's tick while paused: every loop observes, none mutates.
    let tick = json!({"action": "reconcile"});
    scaler::reconcile(&at("tick-s", later(50)), &loops.scaler)
        .await
        .unwrap();
    lifecycle::handle(&tick, &at("tick-l", later(50)), &loops.lifecycle)
        .await
        .unwrap();
    gold_image::handle(&tick, &at("tick-g", later(50)), &loops.gold)
        .await
        .unwrap();
    failover::handle(&tick, &at("tick-f", later(50)), &loops.failover)
        .await
        .unwrap();

    let made: BTreeSet<String> = apps
        .iter()
        .zip(&before)
        .flat_map(|(a, skip)| cluster_calls(a, *skip))
        .collect();
    let handing_back: BTreeSet<String> = ["CompleteLifecycleAction", "UpdateHealthCheck"]
        .map(str::to_owned)
        .into();
    assert!(
        made.is_subset(&handing_back),
        "while paused halfhour only hands the cluster back: {made:?}"
    );
    assert!(
        cluster_calls(&format!("lifecycle.{app}"), before[1])
            .iter()
            .all(|a| a == "CompleteLifecycleAction")
    );
    assert!(
        emulator
            .requests(&format!("lifecycle.{app}"))
            .iter()
            .skip(before[1])
            .all(|r| r.action != "SendCommand"),
        "nothing is probed while paused"
    );

    // Status names the pause and who asked.
    let status = reconciler::handle(
        &json!({"action": "status"}),
        &at("st", later(60)),
        &reconciler,
    )
    .await
    .unwrap();
    assert!(
        status["paused"]["by"]
            .as_str()
            .unwrap()
            .contains("the health check is wrong"),
        "{status}"
    );
    assert_eq!(
        status["loops"]["failover"]["failover"]["mode"],
        json!("Following"),
        "{status}"
    );
    // The last decisions each loop acted on: the fail-over before the pause, and the pause.
    let decisions = &status["loops"]["every loop"]["decisions"];
    assert_eq!(
        decisions["failover"][0]["action"],
        json!("paused"),
        "{status}"
    );
    assert_eq!(
        decisions["failover"][1]["action"],
        json!("fail_over"),
        "{status}"
    );
    assert_eq!(
        decisions["reconciler"][0]["action"],
        json!("pause"),
        "{status}"
    );
    assert_eq!(
        decisions["lifecycle"][0]["action"],
        json!("continue_hands_off"),
        "{status}"
    );

    // Resume: the loops act again (a new storm scales out, a failing site fails over).
    let resumed = reconciler::handle(
        &json!({"action": "resume"}),
        &at("resume", later(70)),
        &reconciler,
    )
    .await
    .unwrap();
    assert_eq!(resumed["paused"], json!(false));
    let event =
        loops::scaling::alarm_event(&format!("{}-cpu-high", cluster.name), "ALARM", later(80));
    let outcome = scaler::handle(&event, &at("cpu-after", later(80)), &loops.scaler)
        .await
        .unwrap();
    assert_eq!(outcome.desired, Some((desired_before + 2) as u32));
    emulator.set_health_check_status(&cluster.site_health_check_id, false);
    let failed_over = failover::handle(
        &loops::failover::health_alarm("ALARM"),
        &at("fo-2", later(190)),
        &loops.failover,
    )
    .await
    .unwrap();
    assert_eq!(
        failed_over.reason.map(|r| json!(r)),
        Some(json!("FailedOver"))
    );
    assert_eq!(
        gate_threshold(&seed, &cluster.gate_health_check_id).await,
        2
    );
    let status = reconciler::handle(
        &json!({"action": "status"}),
        &at("st2", later(195)),
        &reconciler,
    )
    .await
    .unwrap();
    assert_eq!(status["paused"], Value::Null);
}

#[tokio::test]
async fn pin_primary_holds_the_load_balancer_through_an_outage() {
    let s = loops::failover::setup("switch-pin-primary", &[]).await;
    let emulator = Emulator::shared();
    let pinned = failover::handle(
        &json!({"action": "pin-primary", "cluster": s.cluster.name}),
        &at("pin", loops::failover::t0()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        pinned.reason.map(|r| json!(r)),
        Some(json!("PinnedPrimary"))
    );
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    for (n, secs) in [10u64, 600, 3600].into_iter().enumerate() {
        let report = failover::handle(
            &loops::failover::health_alarm("ALARM"),
            &at(&format!("alarm-{n}"), loops::failover::after(secs)),
            &s.deps,
        )
        .await
        .unwrap();
        assert_eq!(
            report.reason.map(|r| json!(r)),
            Some(json!("PinnedPrimary"))
        );
        assert_eq!(
            s.answer(),
            "PRIMARY",
            "held on the load balancer at +{secs}s"
        );
    }
    let unpinned = failover::handle(
        &json!({"action": "unpin"}),
        &at("unpin", loops::failover::after(3700)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(unpinned.reason.map(|r| json!(r)), Some(json!("Unpinned")));
    assert_eq!(
        s.answer(),
        "SECONDARY",
        "unpinned, DNS follows the failing site again"
    );
}

#[tokio::test]
async fn cancel_puts_the_reference_back_and_rolls_out_nothing() {
    let s = loops::gold_image::setup("switch-cancel", false, &[]).await;
    loops::gold_image::three_in_service(&s).await;
    let version_before = loops::gold_image::group_version(&s).await;
    let image_before = loops::gold_image::default_image(&s).await;
    let started = gold_image::handle(
        &loops::gold_image::bake_request(&s.cluster),
        &loops::gold_image::invocation("bake"),
        &s.deps,
    )
    .await
    .unwrap();
    let reference = started.bake.as_ref().unwrap().reference.clone();
    assert!(
        started.steps.contains(&gold_image::plan::Step::CreateImage),
        "{:?}",
        started.steps
    );
    assert_eq!(
        loops::gold_image::in_standby(&s).await,
        vec![reference.to_string()]
    );

    let cancelled = gold_image::handle(
        &json!({"action": "cancel", "cluster": s.cluster.name}),
        &loops::gold_image::invocation("cancel"),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(cancelled.bake.as_ref().unwrap().failure),
        json!("Cancelled")
    );
    assert!(cancelled.bake.as_ref().unwrap().finished);
    let group = aws_sdk_autoscaling::Client::new(&s.config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&s.cluster.asg_name)
        .send()
        .await
        .unwrap();
    let back = group.auto_scaling_groups()[0]
        .instances()
        .iter()
        .find(|i| i.instance_id() == Some(reference.as_str()))
        .unwrap()
        .clone();
    assert_eq!(
        back.lifecycle_state().map(|s| s.as_str()),
        Some("InService")
    );
    assert_eq!(back.protected_from_scale_in(), Some(false));
    assert_eq!(loops::gold_image::group_version(&s).await, version_before);
    assert_eq!(loops::gold_image::default_image(&s).await, image_before);
    assert!(loops::gold_image::actions(&s.app, "StartInstanceRefresh").is_empty());
    assert!(loops::gold_image::actions(&s.app, "CreateLaunchTemplateVersion").is_empty());
    let flags = s
        .deps
        .store
        .read_flags(&s.deps.config.common.cluster)
        .await
        .unwrap();
    assert!(flags.raised(halfhour::clock::now()).is_empty(), "{flags:?}");

    // Nothing left to cancel: a typed refusal, and a new bake may start.
    let again = gold_image::handle(
        &json!({"action": "cancel"}),
        &loops::gold_image::invocation("cancel-2"),
        &s.deps,
    )
    .await
    .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::BadEvent);
    gold_image::handle(
        &loops::gold_image::bake_request(&s.cluster),
        &loops::gold_image::invocation("bake-2"),
        &s.deps,
    )
    .await
    .unwrap();
}

/// Deliver `instance`'s lifecycle event: observe mode answers it CONTINUE, unheld.
async fn answered_at_once(s: &loops::lifecycle::Setup, instance: &str) {
    let event = loops::lifecycle::lifecycle_event(s, instance);
    let outcomes = lifecycle::handle(
        &event,
        &loops::lifecycle::at(instance, loops::lifecycle::event_time()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(outcomes[0].decision),
        json!({"FailOpen": {"why": "ObserveMode"}})
    );
}

#[tokio::test]
async fn observe_mode_lets_launches_and_terminations_go_at_once_and_writes_nothing() {
    let emulator = Emulator::shared();
    let s = loops::lifecycle::setup("switch-observe", &[("DRY_RUN", "true")]).await;
    emulator.set_group_probe(&s.cluster.asg_name, false);
    let launched = loops::lifecycle::launch_one(&s).await;
    answered_at_once(&s, &launched).await;
    assert!(
        s.cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap()
            .contains(&launched),
        "in service at once, not after the heartbeat"
    );
    loops::lifecycle::set_desired(&s, 2).await;
    let leaving = s
        .cluster
        .instances_in(&s.config, "Terminating:Wait")
        .await
        .unwrap();
    assert_eq!(leaving.len(), 1);
    answered_at_once(&s, &leaving[0]).await;
    assert!(
        !s.cluster
            .instances_in(&s.config, "Terminating:Wait")
            .await
            .unwrap()
            .contains(&leaving[0]),
        "the termination is not held"
    );
    let mutating: Vec<String> = emulator
        .mutating_requests(&s.app)
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        mutating,
        vec!["CompleteLifecycleAction", "CompleteLifecycleAction"],
        "observe mode answers CONTINUE and writes nothing else"
    );
}

/// A pause during a trial is halfhour's own flag: it holds when the trial ends, until `resume`.
#[tokio::test]
async fn a_pause_during_a_trial_holds_after_the_trial() {
    let cluster = Cluster::seed().await.unwrap();
    let trial = reconciler_for(&cluster, "switch-trial-pause", true).await;
    let t0 = loops::failover::t0();
    let paused = reconciler::handle(
        &json!({"action": "pause", "reason": "trial"}),
        &at("pause", t0),
        &trial,
    )
    .await
    .unwrap();
    assert_eq!(
        (&paused["paused"], &paused["unchanged"], &paused["dry_run"]),
        (&json!(true), &json!(false), &json!(true))
    );
    let live = reconciler_for(&cluster, "switch-trial-pause", false).await;
    let status = reconciler::handle(&json!({"action": "status"}), &at("status", t0), &live)
        .await
        .unwrap();
    assert!(status["paused"].is_object(), "{status}");
    let resumed = reconciler::handle(&json!({"action": "resume"}), &at("resume", t0), &live)
        .await
        .unwrap();
    assert_eq!(
        (&resumed["paused"], &resumed["unchanged"]),
        (&json!(false), &json!(false))
    );
}

/// Pausing and resuming over and over is not a storm: a second pause within the quiet period is
/// held back, and the reconciler's tick sends one summary once the period is over.
#[tokio::test]
async fn a_flapping_kill_switch_is_summarised_not_repeated() {
    let cluster = Cluster::seed().await.unwrap();
    let deps = reconciler_for(&cluster, "switch-flap", false).await;
    let t0 = loops::failover::t0();
    let minute = Duration::from_secs(60);
    for (i, action) in ["pause", "resume", "pause", "resume"].iter().enumerate() {
        let now = t0.plus(minute * u32::try_from(i).unwrap());
        let request = match *action {
            "pause" => json!({"action": "pause", "reason": "flapping"}),
            _ => json!({"action": "resume"}),
        };
        reconciler::handle(&request, &at(action, now), &deps)
            .await
            .unwrap();
    }
    let notices = || halfhour_tests::notices::published("reconciler.switch-flap");
    let subjects: Vec<String> = notices().into_iter().map(|n| n.subject).collect();
    assert_eq!(subjects.len(), 2, "one pause, one resume: {subjects:?}");
    // A tick inside the quiet period sends nothing more.
    reconciler::handle(
        &json!({"action": "reconcile"}),
        &at("tick-1", t0.plus(minute * 10)),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(notices().len(), 2);
    let after = t0.plus(minute).plus(halfhour::domain::notice::QUIET_PERIOD);
    reconciler::handle(&json!({"action": "reconcile"}), &at("tick-2", after), &deps)
        .await
        .unwrap();
    let told = notices();
    assert_eq!(told.len(), 4, "one summary per held-back kind: {told:?}");
    assert!(
        told[2..].iter().all(|n| n.email.contains("1 more time(s)")),
        "{told:?}"
    );
    assert!(
        told[2..]
            .iter()
            .any(|n| n.subject.contains("paused: 1 more")),
        "{told:?}"
    );
    reconciler::handle(
        &json!({"action": "reconcile"}),
        &at("tick-3", after.plus(minute)),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(notices().len(), 4, "a summary is sent once");
}

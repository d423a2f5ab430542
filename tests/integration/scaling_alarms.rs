//! The scaling loop against the emulator: real SDK, real group, real state table.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use halfhour::domain::{ClusterName, Flag, FlagHold, Millis};
use halfhour::{ErrorKind, clock};
use halfhour_tests::loops::scaling::{
    alarm_event, desired, handle_at, invocation, put_alarm, set_desired_calls, setup, setup_with,
};
use halfhour_tests::{Cluster, Emulator};
use scaler::{Deps, ScalerConfig, handle, invoke, reconcile};
use serde_json::json;

#[tokio::test]
async fn alarm_high_raises_desired_capacity_by_the_step() {
    let s = setup("scale-out", false).await;
    let now = clock::now();
    let outcome = handle(
        &alarm_event(&s.alarm("cpu-high"), "ALARM", now),
        &invocation("r1", now),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(outcome.desired, Some(4));
    assert_eq!(desired(&s).await, 4);
    assert_eq!(set_desired_calls(&s.app), 1);
    // The lease was given back.
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    assert_eq!(s.deps.store.read_lease(&cluster).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_duplicate_deliveries_change_capacity_once() {
    let s = setup("scale-dup", false).await;
    let now = clock::now();
    let event = alarm_event(&s.alarm("cpu-high"), "ALARM", now);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (deps, event) = (Arc::clone(&s.deps), event.clone());
            tokio::spawn(async move {
                handle(&event, &invocation(&format!("dup-{i}"), now), &deps).await
            })
        })
        .collect();
    for task in tasks {
        if let Err(err) = task.await.unwrap() {
            assert_eq!(
                err.kind(),
                ErrorKind::Conflict,
                "duplicates either replay or are told to retry: {err}"
            );
        }
    }
    assert_eq!(desired(&s).await, 4);
    assert_eq!(set_desired_calls(&s.app), 1);
    // A late duplicate (after the others finished) replays without another change.
    let late = handle(
        &event,
        &invocation("late", now.plus(Duration::from_secs(5))),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(late.desired, Some(4));
    assert_eq!(set_desired_calls(&s.app), 1);
}

#[tokio::test]
async fn repeated_alarm_climbs_to_ten_and_holds_at_max() {
    let s = setup("scale-max", false).await;
    let mut now = clock::now();
    let mut seen = Vec::new();
    for i in 0..6 {
        let outcome = handle(
            &alarm_event(&s.alarm("cpu-high"), "ALARM", now),
            &invocation(&format!("r{i}"), now),
            &s.deps,
        )
        .await
        .unwrap();
        seen.push((outcome.desired, outcome.decision));
        now = now.plus(Duration::from_secs(121));
    }
    let desired_seen: Vec<_> = seen.iter().map(|(d, _)| d.unwrap()).collect();
    assert_eq!(desired_seen, vec![4, 6, 8, 10, 10, 10]);
    assert_eq!(json!(seen[5].1), json!({"Hold": {"reason": "AtMax"}}));
    assert_eq!(desired(&s).await, 10);
    assert_eq!(set_desired_calls(&s.app), 4);
}

#[tokio::test]
async fn scale_in_is_refused_during_a_bake() {
    let s = setup("scale-bake", false).await;
    let now = clock::now();
    handle(
        &alarm_event(&s.alarm("cpu-high"), "ALARM", now),
        &invocation("out", now),
        &s.deps,
    )
    .await
    .unwrap();
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    let hold = FlagHold {
        by: "gold-image".into(),
        since: now,
        until: now.plus(Duration::from_secs(3600)),
    };
    s.deps
        .store
        .raise_flag(&cluster, Flag::Baking, &hold, true, now)
        .await
        .unwrap();
    let later = now.plus(Duration::from_secs(3000));
    let outcome = handle(
        &alarm_event(&s.alarm("cpu-low"), "ALARM", later),
        &invocation("in", later),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(outcome.decision),
        json!({"Hold": {"reason": "Baking"}})
    );
    assert_eq!(desired(&s).await, 4);
    assert_eq!(
        set_desired_calls(&s.app),
        1,
        "only the scale-out changed capacity"
    );
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_zero_mutating_calls() {
    let s = setup("scale-bad", false).await;
    let now = clock::now();
    let cases = [
        alarm_event("not-our-alarm", "ALARM", now),
        json!({"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "cpu-high"}}),
        json!({"hello": "world"}),
        json!([1, 2, 3]),
        json!({"Records": [{"Sns": {"Message": "not json"}}]}),
        alarm_event(&s.alarm("cpu-high"), "SOMETIMES", now),
    ];
    for (i, event) in cases.iter().enumerate() {
        let err = handle(event, &invocation(&format!("bad{i}"), now), &s.deps)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadEvent, "case {i}: {err}");
    }
    assert_eq!(Emulator::shared().mutating_requests(&s.app).len(), 0);
    assert_eq!(desired(&s).await, 2);
}

#[tokio::test]
async fn dry_run_decides_and_logs_but_never_mutates() {
    let s = setup("scale-dry", true).await;
    let now = clock::now();
    let outcome = handle(
        &alarm_event(&s.alarm("cpu-high"), "ALARM", now),
        &invocation("dry", now),
        &s.deps,
    )
    .await
    .unwrap();
    assert!(outcome.dry_run);
    assert_eq!(
        json!(outcome.decision),
        json!({"Set": {"from": 2, "to": 4, "direction": "Out"}})
    );
    assert_eq!(desired(&s).await, 2);
    let mutations = Emulator::shared().mutating_requests(&s.app);
    assert!(mutations.is_empty(), "dry run mutated: {mutations:?}");
}

#[tokio::test]
async fn reconciler_steps_an_alarm_still_in_alarm_once_each_cooldown() {
    let s = setup_with("scale-reconcile", false, |c| {
        format!("{c}-cpu-high=+2,{c}-cpu-low=-1")
    })
    .await;
    let high = format!("{}-cpu-high", s.cluster.name);
    put_alarm(&s.config, &high, StateValue::Alarm).await;
    put_alarm(
        &s.config,
        &format!("{}-cpu-low", s.cluster.name),
        StateValue::Ok,
    )
    .await;
    let now = clock::now();
    let step = |at: Millis| {
        let deps = Arc::clone(&s.deps);
        async move { reconcile(&invocation("tick", at), &deps).await.unwrap() }
    };
    let first = step(now).await;
    assert_eq!(first.len(), 1, "only the alarm in ALARM is re-evaluated");
    assert_eq!(first[0].desired, Some(4));
    let inside_cooldown = step(now.plus(Duration::from_secs(60))).await;
    assert_eq!(
        json!(inside_cooldown[0].decision),
        json!({"Hold": {"reason": "ScaleOutCooldown"}})
    );
    assert_eq!(
        step(now.plus(Duration::from_secs(121))).await[0].desired,
        Some(6)
    );
    assert_eq!(desired(&s).await, 6);
    assert_eq!(set_desired_calls(&s.app), 2);

    put_alarm(&s.config, &high, StateValue::Ok).await;
    let before = Emulator::shared().mutating_requests(&s.app).len();
    assert!(step(now.plus(Duration::from_secs(600))).await.is_empty());
    assert_eq!(
        Emulator::shared().mutating_requests(&s.app).len(),
        before,
        "nothing firing, nothing written"
    );
}

#[tokio::test]
async fn commands_for_another_cluster_or_unknown_actions_are_refused() {
    let s = setup("scale-commands", false).await;
    let at = invocation("cmd", clock::now());
    let err = invoke(
        &json!({"action": "reconcile", "cluster": "someone-else"}),
        &at,
        &s.deps,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, halfhour::Error::WrongCluster { .. }), "{err}");
    let err = invoke(&json!({"action": "scale-to-100"}), &at, &s.deps)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadEvent);
    assert!(Emulator::shared().mutating_requests(&s.app).is_empty());
}

/// Instances on basic (five-minute) monitoring starve the one-minute CPU alarms: the scaler's
/// reconcile reports it once while it lasts, and never when detailed monitoring is on.
#[tokio::test]
async fn instances_on_basic_monitoring_are_reported_once() {
    for (detailed, expected) in [(false, 1), (true, 0)] {
        let app = format!("scale-monitoring-{detailed}");
        let shape = halfhour_tests::Shape {
            detailed_monitoring: detailed,
            ..halfhour_tests::Shape::default()
        };
        let (_, cluster, topic) =
            halfhour_tests::loops::seeded_with_topic_shaped(&app, &shape).await;
        let vars: HashMap<&str, String> = HashMap::from([
            ("HALFHOUR_TABLE", cluster.table.clone()),
            ("HALFHOUR_CLUSTER", cluster.name.clone()),
            ("HALFHOUR_ASG_NAME", cluster.asg_name.clone()),
            (
                "HALFHOUR_SCALING_ALARMS",
                format!("{0}-cpu-high=+2,{0}-cpu-low=-1", cluster.name),
            ),
            ("HALFHOUR_NOTIFY_TOPIC_ARN", topic),
        ]);
        let config = ScalerConfig::from_lookup(|name| vars.get(name).cloned()).expect("config");
        let (function_config, app) = Emulator::shared()
            .function_sdk_config("scaler", &app, &cluster.name)
            .await;
        let deps = Deps::from_sdk(config, &function_config);
        for tick in 0..3 {
            scaler::reconcile(
                &invocation(&format!("tick-{tick}"), halfhour::clock::now()),
                &deps,
            )
            .await
            .unwrap();
        }
        let published = halfhour_tests::notices::published(&app);
        assert_eq!(published.len(), expected, "detailed monitoring {detailed}");
        if expected == 1 {
            assert!(published[0].text().contains("basic monitoring"));
        }
    }
}

#[tokio::test]
async fn other_capacity_writers_are_reported_once_while_they_are_there() {
    let (seed, cluster, deps, app) = notifying("scale-coexist").await;
    let asg = aws_sdk_autoscaling::Client::new(&seed);
    let policy = format!("{}-cpu-target", cluster.name);
    asg.put_scaling_policy()
        .auto_scaling_group_name(&cluster.asg_name)
        .policy_name(&policy)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(
            aws_sdk_autoscaling::types::TargetTrackingConfiguration::builder()
                .predefined_metric_specification(
                    aws_sdk_autoscaling::types::PredefinedMetricSpecification::builder()
                        .predefined_metric_type(
                            aws_sdk_autoscaling::types::MetricType::AsgAverageCpuUtilization,
                        )
                        .build(),
                )
                .target_value(50.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let nightly = format!("{}-nightly", cluster.name);
    asg.put_scheduled_update_group_action()
        .auto_scaling_group_name(&cluster.asg_name)
        .scheduled_action_name(&nightly)
        .recurrence("0 22 * * *")
        .desired_capacity(2)
        .send()
        .await
        .unwrap();
    let publishes = || published(&app, "other capacity writers");
    for tick in 0..3 {
        scaler::reconcile(
            &invocation(&format!("tick-{tick}"), halfhour::clock::now()),
            &deps,
        )
        .await
        .unwrap();
    }
    let published = publishes();
    assert_eq!(published.len(), 1, "reported once while they are there");
    let message = published[0].text();
    assert!(
        message.contains(&policy) && message.contains(&nightly),
        "{message}"
    );
    assert!(message.contains("EnableScaling=false"), "{message}");

    // Gone, then back: reported again.
    asg.delete_policy()
        .auto_scaling_group_name(&cluster.asg_name)
        .policy_name(&policy)
        .send()
        .await
        .unwrap();
    asg.delete_scheduled_action()
        .auto_scaling_group_name(&cluster.asg_name)
        .scheduled_action_name(&nightly)
        .send()
        .await
        .unwrap();
    scaler::reconcile(&invocation("tick-clear", halfhour::clock::now()), &deps)
        .await
        .unwrap();
    assert_eq!(publishes().len(), 1, "nothing to say once they are gone");
    asg.put_scheduled_update_group_action()
        .auto_scaling_group_name(&cluster.asg_name)
        .scheduled_action_name(&nightly)
        .recurrence("0 23 * * *")
        .desired_capacity(3)
        .send()
        .await
        .unwrap();
    // The same cause within the quiet period of its last notice is held back; later, told again.
    scaler::reconcile(&invocation("tick-soon", halfhour::clock::now()), &deps)
        .await
        .unwrap();
    assert_eq!(
        publishes().len(),
        1,
        "back within the quiet period: held back"
    );
    let later = halfhour::clock::now().plus(halfhour::domain::notice::QUIET_PERIOD);
    // A report is made on a change of what is seen: show the writers gone once more, then back.
    asg.delete_scheduled_action()
        .auto_scaling_group_name(&cluster.asg_name)
        .scheduled_action_name(&nightly)
        .send()
        .await
        .unwrap();
    scaler::reconcile(&invocation("tick-gone-again", later), &deps)
        .await
        .unwrap();
    asg.put_scheduled_update_group_action()
        .auto_scaling_group_name(&cluster.asg_name)
        .scheduled_action_name(&nightly)
        .recurrence("0 23 * * *")
        .desired_capacity(3)
        .send()
        .await
        .unwrap();
    scaler::reconcile(&invocation("tick-back", later), &deps)
        .await
        .unwrap();
    assert_eq!(publishes().len(), 2, "back again later: reported again");
}

#[tokio::test]
async fn a_capacity_change_halfhour_did_not_make_is_named_when_the_scaler_acts() {
    let (seed, cluster, deps, app) = notifying("scale-elsewhere").await;
    let first = Millis(1_000_000);
    handle_at(
        &alarm_event(&format!("{}-cpu-high", cluster.name), "ALARM", first),
        "e1".into(),
        first,
        &deps,
    )
    .await
    .unwrap();
    assert!(published(&app, "changed elsewhere").is_empty());
    // Someone else sets 6; the next alarm steps from there, and says so.
    aws_sdk_autoscaling::Client::new(&seed)
        .set_desired_capacity()
        .auto_scaling_group_name(&cluster.asg_name)
        .desired_capacity(6)
        .send()
        .await
        .unwrap();
    let later = Millis(1_000_000 + 3_600_000);
    let outcome = handle_at(
        &alarm_event(&format!("{}-cpu-high", cluster.name), "ALARM", later),
        "e2".into(),
        later,
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(outcome.desired, Some(8));
    let told = published(&app, "changed elsewhere");
    assert_eq!(told.len(), 1);
    let message = told[0].text();
    assert!(
        message.contains("desired capacity 6, not the 4"),
        "{message}"
    );
}

/// A scaler with a notification topic on a fresh cluster: (seed config, cluster, deps, its app).
async fn notifying(app: &str) -> (aws_config::SdkConfig, Cluster, Deps, String) {
    notifying_with(app, |c| format!("{c}-cpu-high=+2,{c}-cpu-low=-1"), &[]).await
}

/// [`notifying`] with the alarms `alarms` names for the cluster and `extra` settings.
async fn notifying_with(
    app: &str,
    alarms: impl Fn(&str) -> String,
    extra: &[(&'static str, &str)],
) -> (aws_config::SdkConfig, Cluster, Deps, String) {
    let (seed, cluster, topic) = halfhour_tests::loops::seeded_with_topic(app).await;
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("HALFHOUR_TABLE", cluster.table.clone()),
        ("HALFHOUR_CLUSTER", cluster.name.clone()),
        ("HALFHOUR_ASG_NAME", cluster.asg_name.clone()),
        ("HALFHOUR_SCALING_ALARMS", alarms(&cluster.name)),
        ("HALFHOUR_NOTIFY_TOPIC_ARN", topic),
        ("HALFHOUR_SCALE_OUT_COOLDOWN_SECONDS", "0".to_owned()),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = ScalerConfig::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let (function_config, app) = Emulator::shared()
        .function_sdk_config("scaler", app, &cluster.name)
        .await;
    (seed, cluster, Deps::from_sdk(config, &function_config), app)
}

/// The notifications `app` published whose text contains `about`.
fn published(app: &str, about: &str) -> Vec<halfhour_tests::notices::Published> {
    halfhour_tests::notices::published(app)
        .into_iter()
        .filter(|n| n.text().contains(about))
        .collect()
}

/// An alarm held by the cooldown reads what it decides from and writes only its idempotency
/// record: no lease, so it is answered while another loop holds one. A step still waits for it.
#[tokio::test]
async fn a_held_alarm_takes_no_lease_and_writes_only_its_idempotency_record() {
    let s = setup("scale-held", false).await;
    let now = clock::now();
    handle(
        &alarm_event(&s.alarm("cpu-high"), "ALARM", now),
        &invocation("r1", now),
        &s.deps,
    )
    .await
    .unwrap();
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    s.deps
        .store
        .acquire_lease(&cluster, "gold-image:bake", now, Duration::from_secs(600))
        .await
        .unwrap();
    let before = Emulator::shared().request_mark(&s.app);
    let later = now.plus(Duration::from_secs(30));
    let held = handle(
        &alarm_event(&s.alarm("cpu-high"), "ALARM", later),
        &invocation("r2", later),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(held.decision),
        json!({"Hold": {"reason": "ScaleOutCooldown"}})
    );
    let requests = Emulator::shared().requests_after(&s.app, before);
    let actions: Vec<&str> = requests.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "PutItem",
            "DescribeAutoScalingGroups",
            "GetItem",
            "GetItem",
            "PutItem"
        ],
        "claim, group, flags, state, completion"
    );
    assert_eq!(
        requests.iter().filter(|r| r.mutating).count(),
        2,
        "the idempotency record only"
    );

    let out_of_cooldown = now.plus(Duration::from_secs(300));
    let refused = handle(
        &alarm_event(&s.alarm("cpu-high"), "ALARM", out_of_cooldown),
        &invocation("r3", out_of_cooldown),
        &s.deps,
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::Conflict,
        "a step waits for the lease"
    );
    assert_eq!(desired(&s).await, 4, "and changes nothing without it");
}

/// Reaching the maximum is told once; another within the quiet period is held back, and the
/// next one after it says how many it stands for. Each is a valid Chatbot notification.
#[tokio::test]
async fn capacity_at_its_maximum_is_told_and_repeats_are_summarised() {
    let (seed, cluster, deps, app) = notifying("scale-at-max").await;
    let asg = aws_sdk_autoscaling::Client::new(&seed);
    let lower_to_eight = || async {
        asg.set_desired_capacity()
            .auto_scaling_group_name(&cluster.asg_name)
            .desired_capacity(8)
            .send()
            .await
            .expect("desired capacity set from outside");
    };
    let t0 = clock::now();
    let minute = Duration::from_secs(60);
    for i in 0..4 {
        deliver(
            &deps,
            &format!("{}-cpu-high", cluster.name),
            t0.plus(i * minute),
        )
        .await;
    }
    let at_max = || published(&app, "maximum");
    assert_eq!(at_max().len(), 1, "2 -> 4 -> 6 -> 8 -> 10: told once");
    let first = &at_max()[0];
    assert!(
        first.subject.contains("scaled out to its maximum (10)"),
        "{first:?}"
    );
    assert!(first.email.contains("raise MaxSize"), "{first:?}");
    assert_eq!(
        first.chat["metadata"]["eventType"],
        "halfhour.scaling.at-max"
    );
    assert_eq!(first.chat["content"]["keywords"][3], "scale_out");
    assert_eq!(
        deliver(
            &deps,
            &format!("{}-cpu-high", cluster.name),
            t0.plus(4 * minute)
        )
        .await,
        Some(10)
    );
    assert_eq!(
        at_max().len(),
        1,
        "a hold at the maximum is no change: nothing new"
    );

    lower_to_eight().await;
    assert_eq!(
        deliver(
            &deps,
            &format!("{}-cpu-high", cluster.name),
            t0.plus(5 * minute)
        )
        .await,
        Some(10)
    );
    assert_eq!(
        at_max().len(),
        1,
        "again within the quiet period: held back"
    );

    // The quiet period runs from the first notice (the fourth step, at three minutes).
    let later = t0
        .plus(3 * minute)
        .plus(halfhour::domain::notice::QUIET_PERIOD);
    lower_to_eight().await;
    assert_eq!(
        deliver(
            &deps,
            &format!("{}-cpu-high", cluster.name),
            later.plus(minute)
        )
        .await,
        Some(10)
    );
    let told = at_max();
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told[1]
            .email
            .contains("1 more notice(s) of this kind since"),
        "{:?}",
        told[1]
    );
}

/// One alarm transition into ALARM at `when`; the desired capacity it left.
async fn deliver(deps: &Deps, name: &str, when: Millis) -> Option<u32> {
    handle_at(
        &alarm_event(name, "ALARM", when),
        format!("{name}@{}", when.0),
        when,
        deps,
    )
    .await
    .expect("handled")
    .desired
}

/// A scale-in the guards keep refusing is told once it has lasted, once per alarm episode.
#[tokio::test]
async fn a_scale_in_refused_for_long_is_told_once() {
    let (seed, cluster, deps, app) = notifying_with(
        "scale-refused",
        |c| format!("{c}-cpu-high=+2,{c}-cpu-low=-1"),
        &[("HALFHOUR_REFUSED_SCALE_IN_NOTICE_SECONDS", "60")],
    )
    .await;
    let low = format!("{}-cpu-low", cluster.name);
    put_alarm(&seed, &low, StateValue::Alarm).await;
    put_alarm(&seed, &format!("{}-cpu-high", cluster.name), StateValue::Ok).await;
    let name = ClusterName::new(&cluster.name).unwrap();
    let t0 = clock::now();
    let hold = FlagHold {
        by: "gold-image".into(),
        since: t0,
        until: t0.plus(Duration::from_secs(7200)),
    };
    deps.store
        .raise_flag(&name, Flag::Refreshing, &hold, true, t0)
        .await
        .unwrap();
    let refused = || published(&app, "scale-in refused");
    for seconds in [0, 30, 59] {
        let at = t0.plus(Duration::from_secs(seconds));
        let outcomes = reconcile(&invocation("tick", at), &deps).await.unwrap();
        assert_eq!(
            json!(outcomes[0].decision),
            json!({"Hold": {"reason": "Refreshing"}})
        );
    }
    assert!(refused().is_empty(), "not yet long");
    for seconds in [61, 120, 600] {
        let at = t0.plus(Duration::from_secs(seconds));
        reconcile(&invocation("tick", at), &deps).await.unwrap();
    }
    let told = refused();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].email.contains("Refreshing"), "{:?}", told[0]);
    assert!(
        told[0].email.contains("`status` on the reconciler"),
        "{:?}",
        told[0]
    );
    assert!(
        Emulator::shared()
            .requests(&app)
            .iter()
            .all(|r| r.action != "SetDesiredCapacity"),
        "capacity left alone"
    );
}

//! The lifecycle loop against the emulator's lifecycle-hook semantics.

use std::sync::Arc;
use std::time::Duration;

use halfhour::domain::{ClusterName, Flag, FlagHold};
use halfhour::{Error, ErrorKind, clock};
use halfhour_tests::loops::lifecycle::{
    at, calls, event_time, launch_one, lifecycle_event, set_desired, setup, setup_shaped,
};
use halfhour_tests::{Emulator, Shape};
use lifecycle::handle;
use serde_json::{Value, json};

#[tokio::test]
async fn healthy_launch_goes_in_service() {
    let s = setup("lc-healthy", &[]).await;
    let new = launch_one(&s).await;
    let outcome = handle(
        &lifecycle_event(&s, &new),
        &at("e1", event_time().plus(Duration::from_secs(5))),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(json!(outcome[0].decision), json!("Continue"));
    assert!(
        s.cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap()
            .contains(&new)
    );
    let completes = calls(&s.app, "CompleteLifecycleAction");
    assert_eq!(completes.len(), 1);
    assert_eq!(
        completes[0].params["LifecycleActionResult"],
        json!("CONTINUE")
    );
    assert_eq!(
        calls(&s.app, "SendCommand").len(),
        1,
        "the application was probed on the instance"
    );
}

/// An instance launched into the warm pool waits in `Warmed:Pending:Wait`: it is not meant to
/// serve there, so it is CONTINUEd unprobed, from its event or, when that is lost, by the
/// reconciler (which finds it in the pool, not in the group).
#[tokio::test]
async fn launches_into_the_warm_pool_are_continued_without_a_probe() {
    let s = setup("lc-warm", &[]).await;
    let asg = aws_sdk_autoscaling::Client::new(&s.config);
    let pool_states = || async {
        asg.describe_warm_pool()
            .auto_scaling_group_name(&s.cluster.asg_name)
            .send()
            .await
            .unwrap()
            .instances()
            .iter()
            .map(|i| {
                (
                    i.instance_id().unwrap_or_default().to_owned(),
                    i.lifecycle_state()
                        .map(|l| l.as_str().to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>()
    };
    asg.put_warm_pool()
        .auto_scaling_group_name(&s.cluster.asg_name)
        .min_size(2)
        .send()
        .await
        .unwrap();
    let pooled = pool_states().await;
    assert_eq!(pooled.len(), 2);
    assert!(
        pooled
            .iter()
            .all(|(_, state)| state == "Warmed:Pending:Wait")
    );
    let by_event = handle(
        &lifecycle_event(&s, &pooled[0].0),
        &at("w1", event_time()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(json!(by_event[0].decision), json!("IntoWarmPool"));
    let by_reconcile = handle(
        &json!({"action": "reconcile"}),
        &at("w2", event_time()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        by_reconcile
            .iter()
            .map(|o| (o.instance_id.to_string(), json!(o.decision)))
            .collect::<Vec<_>>(),
        vec![(pooled[1].0.clone(), json!("IntoWarmPool"))]
    );
    assert!(
        pool_states()
            .await
            .iter()
            .all(|(_, state)| state == "Warmed:Stopped"),
        "both rest in the pool"
    );
    assert!(
        calls(&s.app, "SendCommand").is_empty(),
        "nothing probed in the pool"
    );
}

/// A probe still running is read again on the next look, never sent a second time.
#[tokio::test]
async fn a_running_probe_is_read_again_not_sent_again() {
    let emulator = Emulator::shared();
    let s = setup("lc-probe-kept", &[]).await;
    let new = launch_one(&s).await;
    emulator.set_probe_outcome(&new, "running");
    let mut decisions = Vec::new();
    for (i, outcome) in ["running", "running", "healthy"].iter().enumerate() {
        emulator.set_probe_outcome(&new, outcome);
        let at_i = at(
            &format!("look{i}"),
            event_time().plus(Duration::from_secs(5 + 20 * i as u64)),
        );
        decisions.push(json!(
            handle(&json!({"action": "reconcile"}), &at_i, &s.deps)
                .await
                .unwrap()[0]
                .decision
        ));
    }
    assert_eq!(
        decisions,
        [
            json!({"Wait": {"reason": "ProbePending"}}),
            json!({"Wait": {"reason": "ProbePending"}}),
            json!("Continue")
        ]
    );
    assert_eq!(
        calls(&s.app, "SendCommand").len(),
        1,
        "one probe, read three times"
    );
}

/// An instance Systems Manager cannot reach (here: no instance profile) is not an error: it
/// waits within the readiness budget, then is abandoned for that reason; an instance beside it
/// that SSM reaches is put in service in the same pass.
#[tokio::test]
async fn an_instance_ssm_cannot_reach_waits_and_does_not_hold_up_the_others() {
    let shape = Shape {
        instance_profile: false,
        ..Shape::default()
    };
    let s = setup_shaped("lc-unreachable", &[], &shape).await;
    let unreachable = launch_one(&s).await;
    // Version 2 gives instances a profile: the next launch is a managed node.
    let profile =
        aws_sdk_ec2::types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
            .name("web")
            .build();
    let with_profile = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
        .iam_instance_profile(profile)
        .build();
    let version = s
        .cluster
        .new_template_version(&s.config, with_profile)
        .await
        .unwrap();
    s.cluster
        .set_default_version(&s.config, version)
        .await
        .unwrap();
    set_desired(&s, 4).await;
    let reachable = s
        .cluster
        .instances_in(&s.config, "Pending:Wait")
        .await
        .unwrap()
        .into_iter()
        .find(|id| *id != unreachable)
        .expect("a second launch");
    let first = handle(
        &json!({"action": "reconcile"}),
        &at("r1", event_time().plus(Duration::from_secs(5))),
        &s.deps,
    )
    .await
    .unwrap();
    let decision = |outcomes: &[lifecycle::ActionOutcome], id: &str| {
        outcomes
            .iter()
            .find(|o| o.instance_id == id)
            .map(|o| json!(o.decision))
    };
    assert_eq!(
        decision(&first, &unreachable),
        Some(json!({"Wait": {"reason": "NotReachableYet"}}))
    );
    assert_eq!(decision(&first, &reachable), Some(json!("Continue")));
    let late = handle(
        &json!({"action": "reconcile"}),
        &at("r2", event_time().plus(Duration::from_secs(65))),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        decision(&late, &unreachable),
        Some(json!({"Abandon": {"reason": "NotReachableInBudget"}}))
    );
}

#[tokio::test]
async fn failing_probe_waits_with_heartbeats_then_is_abandoned_and_replaced() {
    let emulator = Emulator::shared();
    let s = setup("lc-broken", &[]).await;
    let broken = launch_one(&s).await;
    emulator.set_instance_probe(&broken, false);
    let t0 = event_time();
    let early = handle(
        &lifecycle_event(&s, &broken),
        &at("e1", t0.plus(Duration::from_secs(10))),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(early[0].decision),
        json!({"Wait": {"reason": "ProbeFailingWithinBudget"}})
    );
    assert_eq!(calls(&s.app, "RecordLifecycleActionHeartbeat").len(), 1);
    let late = handle(
        &json!({"action": "reconcile"}),
        &at("tick", t0.plus(Duration::from_secs(61))),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(late[0].decision),
        json!({"Abandon": {"reason": "NotReadyInBudget"}})
    );
    let instances = s.cluster.instances(&s.config).await.unwrap();
    assert!(
        instances.iter().all(|(id, _)| *id != broken),
        "abandoned: {instances:?}"
    );
    assert_eq!(
        s.cluster
            .instances_in(&s.config, "Pending:Wait")
            .await
            .unwrap()
            .len(),
        1,
        "replaced"
    );
}

#[tokio::test]
async fn inside_a_db_failover_window_a_failing_launch_keeps_waiting() {
    let emulator = Emulator::shared();
    let s = setup("lc-dbwindow", &[]).await;
    let new = launch_one(&s).await;
    emulator.set_instance_probe(&new, false);
    let now = event_time().plus(Duration::from_secs(600));
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    let window = FlagHold {
        by: "db-events".into(),
        since: now,
        until: now.plus(Duration::from_secs(180)),
    };
    s.deps
        .store
        .raise_flag(&cluster, Flag::DbFailover, &window, false, now)
        .await
        .unwrap();
    let outcome = handle(&lifecycle_event(&s, &new), &at("e1", now), &s.deps)
        .await
        .unwrap();
    assert_eq!(
        json!(outcome[0].decision),
        json!({"Wait": {"reason": "DbFailoverWindow"}})
    );
    assert!(
        s.cluster
            .instances_in(&s.config, "Pending:Wait")
            .await
            .unwrap()
            .contains(&new)
    );
    assert_eq!(
        calls(&s.app, "RecordLifecycleActionHeartbeat").len(),
        1,
        "heartbeat sent"
    );
    assert!(calls(&s.app, "CompleteLifecycleAction").is_empty());
}

/// Where the broken version 2 is when the breaker trips.
#[derive(Clone, Copy, PartialEq)]
enum Rolled {
    /// The group names `$Default`, which is version 2.
    ViaDefault,
    /// The group names version 2 itself (what a succeeded refresh writes into it).
    IntoTheGroup,
    /// A refresh onto version 2 is replacing the instances of a group on version 1.
    Refreshing,
}

#[tokio::test]
async fn three_broken_launches_trip_the_breaker_and_the_next_launch_runs_the_good_image() {
    breaker_reverts_what_the_group_launches("lc-breaker", Rolled::ViaDefault).await;
}

/// A group that names the broken version ignores the template's default: the breaker must name
/// the good version in the group.
#[tokio::test]
async fn the_breaker_reverts_a_group_pinned_to_the_broken_version() {
    breaker_reverts_what_the_group_launches("lc-breaker-pinned", Rolled::IntoTheGroup).await;
}

/// Mid-refresh, the breaker rolls the refresh back (AWS replaces what it launched).
#[tokio::test]
async fn the_breaker_rolls_back_a_refresh_that_launches_broken_instances() {
    breaker_reverts_what_the_group_launches("lc-breaker-refresh", Rolled::Refreshing).await;
}

#[allow(clippy::unwrap_used)] // the body of the three tests above
async fn breaker_reverts_what_the_group_launches(app: &str, rolled: Rolled) {
    let emulator = Emulator::shared();
    let s = setup(app, &[]).await;
    let asg = aws_sdk_autoscaling::Client::new(&s.config);
    let ec2 = aws_sdk_ec2::Client::new(&s.config);
    // A roll-out the gold-image loop recorded: version 2 (the broken image) after version 1.
    let broken_image = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()[1]
        .image_id()
        .unwrap()
        .to_owned();
    let broken = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
        .image_id(&broken_image)
        .build();
    let version = s
        .cluster
        .new_template_version(&s.config, broken)
        .await
        .unwrap();
    s.cluster
        .set_default_version(&s.config, version)
        .await
        .unwrap();
    emulator.set_group_probe(&s.cluster.asg_name, false);
    let mut refresh_id = None;
    match rolled {
        Rolled::ViaDefault => {}
        Rolled::IntoTheGroup => {
            s.cluster.set_group_version(&s.config, "2").await.unwrap();
        }
        Rolled::Refreshing => {
            s.cluster.set_group_version(&s.config, "1").await.unwrap();
            let started = asg
                .start_instance_refresh()
                .auto_scaling_group_name(&s.cluster.asg_name)
                .desired_configuration(
                    aws_sdk_autoscaling::types::DesiredConfiguration::builder()
                        .launch_template(
                            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                                .launch_template_id(&s.cluster.launch_template_id)
                                .version("2")
                                .build(),
                        )
                        .build(),
                )
                .preferences(
                    aws_sdk_autoscaling::types::RefreshPreferences::builder()
                        .min_healthy_percentage(100)
                        .max_healthy_percentage(150)
                        .auto_rollback(true)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            refresh_id = started.instance_refresh_id;
        }
    }
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    s.deps
        .store
        .write_doc(
            &cluster,
            "bake",
            &json!({"release": "r1", "previous_version": 1, "new_version": 2, "refresh_id": refresh_id, "finished": true})
                .to_string(),
            None,
        )
        .await
        .unwrap();
    let describe_refresh = || {
        asg.describe_instance_refreshes()
            .auto_scaling_group_name(&s.cluster.asg_name)
            .send()
    };
    if rolled == Rolled::Refreshing {
        // Pending -> InProgress, then the refresh launches its first replacement (version 2).
        describe_refresh().await.unwrap();
        describe_refresh().await.unwrap();
    } else {
        set_desired(&s, 3).await;
    }
    let mut t = event_time();
    let mut decisions = Vec::new();
    for round in 0..4 {
        handle(
            &json!({"action": "reconcile"}),
            &at(&format!("see{round}"), t),
            &s.deps,
        )
        .await
        .unwrap();
        t = t.plus(Duration::from_secs(61));
        let late = handle(
            &json!({"action": "reconcile"}),
            &at(&format!("judge{round}"), t),
            &s.deps,
        )
        .await
        .unwrap();
        decisions.extend(late.first().map(|o| json!(o.decision)));
        t = t.plus(Duration::from_secs(1));
    }
    emulator.set_group_probe(&s.cluster.asg_name, true);
    let abandon = json!({"Abandon": {"reason": "NotReadyInBudget"}});
    assert_eq!(decisions[..3], [abandon.clone(), abandon.clone(), abandon]);
    if rolled == Rolled::Refreshing {
        // The rollback terminates the broken instance it launched: nothing is abandoned again.
        assert!(
            decisions[3..]
                .iter()
                .all(|d| !d.to_string().contains("Abandon")),
            "{decisions:?}"
        );
    } else {
        assert_eq!(
            decisions[3],
            json!({"Wait": {"reason": "BreakerOpen"}}),
            "no further ABANDON"
        );
    }
    let abandons = calls(&s.app, "CompleteLifecycleAction")
        .into_iter()
        .filter(|c| c.params["LifecycleActionResult"] == json!("ABANDON"))
        .count();
    assert_eq!(abandons, 3);
    let default = ec2
        .describe_launch_template_versions()
        .launch_template_id(&s.cluster.launch_template_id)
        .versions("$Default")
        .send()
        .await
        .unwrap()
        .launch_template_versions()[0]
        .version_number();
    assert_eq!(
        default,
        Some(1),
        "launch template default reverted to the good version"
    );
    let published = halfhour_tests::notices::published(&s.app);
    assert_eq!(published.len(), 1);
    assert!(
        published[0]
            .email
            .contains("launches version 1 again instead of 2"),
        "{:?}",
        published[0]
    );
    if rolled == Rolled::Refreshing {
        assert_eq!(calls(&s.app, "RollbackInstanceRefresh").len(), 1);
        let status = describe_refresh().await.unwrap().instance_refreshes()[0]
            .status()
            .map(|s| s.as_str().to_owned());
        assert_eq!(status.as_deref(), Some("RollbackSuccessful"));
    }
    // The effect: the next instance the group launches runs the good image.
    let desired = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&s.cluster.asg_name)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .desired_capacity()
        .unwrap();
    let before: Vec<String> = s
        .cluster
        .instances(&s.config)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    set_desired(&s, desired + 1).await;
    let newcomer = s
        .cluster
        .instances(&s.config)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .find(|id| !before.contains(id))
        .expect("a new instance");
    let launched = ec2
        .describe_instances()
        .instance_ids(&newcomer)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .image_id()
        .map(str::to_owned);
    assert_eq!(
        launched.as_deref(),
        Some(s.cluster.image_id.as_str()),
        "the next launch runs the previous (good) image, not {broken_image}"
    );
}

#[tokio::test]
async fn terminate_deregisters_the_instance_before_continue() {
    let s = setup("lc-terminate", &[]).await;
    let new = launch_one(&s).await;
    handle(
        &lifecycle_event(&s, &new),
        &at("launch", event_time()),
        &s.deps,
    )
    .await
    .unwrap();
    set_desired(&s, 2).await;
    let leaving = s
        .cluster
        .instances_in(&s.config, "Terminating:Wait")
        .await
        .unwrap()
        .remove(0);
    // AWS deregisters a terminating instance itself; one registered again by hand (or by an
    // agent on the instance) must still be taken out before it goes.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&s.config);
    elb.register_targets()
        .target_group_arn(&s.cluster.target_group_arn)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id(&leaving)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let outcome = handle(
        &lifecycle_event(&s, &leaving),
        &at("terminate", event_time()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(json!(outcome[0].decision), json!("Continue"));
    let order: Vec<String> = Emulator::shared()
        .requests(&s.app)
        .into_iter()
        .filter(|r| {
            matches!(
                r.action.as_str(),
                "DeregisterTargets" | "CompleteLifecycleAction"
            )
        })
        .map(|r| {
            format!(
                "{} {}",
                r.action,
                r.params["LifecycleActionResult"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        order[order.len() - 2..],
        [
            "DeregisterTargets ".to_owned(),
            "CompleteLifecycleAction CONTINUE".to_owned()
        ]
    );
    let registered: Vec<String> = elb
        .describe_target_health()
        .target_group_arn(&s.cluster.target_group_arn)
        .send()
        .await
        .unwrap()
        .target_health_descriptions()
        .iter()
        .filter_map(|d| d.target()?.id().map(str::to_owned))
        .collect();
    assert!(!registered.contains(&leaving));
    assert!(
        s.cluster
            .instances(&s.config)
            .await
            .unwrap()
            .iter()
            .all(|(id, _)| *id != leaving)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_duplicate_launch_events_complete_once() {
    let s = setup("lc-dup", &[]).await;
    let new = launch_one(&s).await;
    let event = lifecycle_event(&s, &new);
    let runs: Vec<_> = (0..20)
        .map(|i| {
            let (deps, event) = (Arc::clone(&s.deps), event.clone());
            tokio::spawn(async move {
                handle(&event, &at(&format!("dup{i}"), event_time()), &deps).await
            })
        })
        .collect();
    for run in runs {
        if let Err(err) = run.await.unwrap() {
            assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        }
    }
    assert_eq!(calls(&s.app, "CompleteLifecycleAction").len(), 1);
    assert!(
        s.cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap()
            .contains(&new)
    );
}

#[tokio::test]
async fn a_lost_event_is_completed_by_the_reconciler() {
    let s = setup("lc-lost", &[]).await;
    let new = launch_one(&s).await;
    let outcome = handle(
        &json!({"action": "reconcile"}),
        &at("tick", clock::now()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(outcome.len(), 1);
    assert_eq!(json!(outcome[0].decision), json!("Continue"));
    assert!(
        s.cluster
            .instances_in(&s.config, "InService")
            .await
            .unwrap()
            .contains(&new)
    );
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_zero_mutating_calls() {
    let s = setup("lc-bad", &[]).await;
    let new = launch_one(&s).await;
    let good = lifecycle_event(&s, &new);
    let before = Emulator::shared().mutating_requests(&s.app).len();
    let with = |pointer: &str, value: Value| {
        let mut event = good.clone();
        *event.pointer_mut(pointer).unwrap() = value;
        event
    };
    let cases = [
        with("/detail/AutoScalingGroupName", json!("someone-elses-group")),
        with("/detail/LifecycleHookName", json!("not-our-hook")),
        with(
            "/detail/LifecycleTransition",
            json!("autoscaling:EC2_INSTANCE_REBOOTING"),
        ),
        with("/detail/EC2InstanceId", json!("../etc")),
        with("/detail", json!({"EC2InstanceId": new})),
        json!({"Records": [{"Sns": {"Message": "{{not json"}}]}),
        json!({"action": "abandon-everything"}),
        json!(42),
    ];
    for (i, event) in cases.iter().enumerate() {
        let err: Error = handle(event, &at(&format!("bad{i}"), clock::now()), &s.deps)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadEvent, "case {i}: {err}");
    }
    // SNS's delivery to Lambda, as https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html shows it.
    let test_notification = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:prod-lifecycle:8a21c3b4",
        "Sns": {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:prod-lifecycle", "Subject": null,
            "Timestamp": "2026-11-27T14:00:00.512Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe", "MessageAttributes": {},
            "Message": json!({
        "AccountId": "123456789012", "RequestId": "4e6156f4-a9e2-11e3-b6d3-0022d5b7b8d8",
        "AutoScalingGroupARN": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/web",
        "AutoScalingGroupName": s.cluster.asg_name, "Service": "AWS Auto Scaling",
        "Event": "autoscaling:TEST_NOTIFICATION", "Time": "2026-11-27T14:00:00.000Z"}).to_string()}}]});
    assert_eq!(
        handle(&test_notification, &at("test", clock::now()), &s.deps)
            .await
            .unwrap(),
        vec![]
    );
    let mutations = Emulator::shared().mutating_requests(&s.app);
    assert_eq!(
        mutations.len(),
        before,
        "zero mutating calls: {:?}",
        &mutations[before..]
    );
    assert!(
        s.cluster
            .instances_in(&s.config, "Pending:Wait")
            .await
            .unwrap()
            .contains(&new)
    );
}

/// A tick with nothing waiting on a hook is one look at the group: a group without a warm pool
/// has no pooled instances to look up (the group names its `WarmPoolConfiguration` when it has one).
#[tokio::test]
async fn a_tick_with_nothing_waiting_is_one_look_at_the_group() {
    let s = setup("lc-quiet", &[]).await;
    let outcomes = handle(
        &json!({"action": "reconcile"}),
        &at("q", event_time()),
        &s.deps,
    )
    .await
    .unwrap();
    assert!(outcomes.is_empty(), "{outcomes:?}");
    let actions: Vec<String> = Emulator::shared()
        .requests(&s.app)
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(actions, ["DescribeAutoScalingGroups"]);
}

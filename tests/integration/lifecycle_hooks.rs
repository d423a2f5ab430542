//! The lifecycle loop against the emulator's lifecycle-hook semantics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use halfhour::domain::{ClusterName, Flag, FlagHold, Millis};
use halfhour::{Error, ErrorKind, clock};
use halfhour_tests::{Cluster, Emulator};
use lifecycle::{Deps, Invocation, LifecycleConfig, handle};
use serde_json::{Value, json};

pub(crate) struct Setup {
    pub(crate) config: aws_config::SdkConfig,
    pub(crate) cluster: Cluster,
    pub(crate) deps: Arc<Deps>,
    pub(crate) app: String,
}

pub(crate) async fn setup(app: &str, extra: &[(&str, &str)]) -> Setup {
    let emulator = Emulator::shared();
    let (seed, cluster, topic) = crate::seeded_with_topic(app).await;
    let mut vars: HashMap<String, String> = HashMap::from([
        ("HALFHOUR_TABLE".into(), cluster.table.clone()),
        ("HALFHOUR_CLUSTER".into(), cluster.name.clone()),
        ("HALFHOUR_ASG_NAME".into(), cluster.asg_name.clone()),
        ("HALFHOUR_NOTIFY_TOPIC_ARN".into(), topic),
        ("HALFHOUR_READINESS_BUDGET_SECONDS".into(), "60".into()),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let lifecycle_config =
        LifecycleConfig::from_lookup(|name| vars.get(name).cloned()).expect("valid config");
    let (function_config, app) = emulator.function_sdk_config("lifecycle", app).await;
    let deps = Arc::new(Deps::from_sdk(lifecycle_config, &function_config));
    Setup {
        config: seed,
        cluster,
        deps,
        app,
    }
}

pub(crate) async fn set_desired(s: &Setup, desired: i32) {
    aws_sdk_autoscaling::Client::new(&s.config)
        .set_desired_capacity()
        .auto_scaling_group_name(&s.cluster.asg_name)
        .desired_capacity(desired)
        .send()
        .await
        .expect("desired capacity set");
}

/// Scale the group to 3: one new instance, waiting on the launch hook.
pub(crate) async fn launch_one(s: &Setup) -> String {
    set_desired(s, 3).await;
    s.cluster
        .instances_in(&s.config, "Pending:Wait")
        .await
        .expect("instances")
        .remove(0)
}

pub(crate) fn at(id: &str, now: Millis) -> Invocation {
    Invocation {
        request_id: id.into(),
        now,
        remaining: Duration::from_secs(60),
    }
}

/// The EventBridge event AWS delivers for the emulator's waiting action on `instance`.
pub(crate) fn lifecycle_event(s: &Setup, instance: &str) -> Value {
    lifecycle_event_of(&s.cluster.asg_name, instance)
}

fn lifecycle_event_of(group: &str, instance: &str) -> Value {
    let action = Emulator::shared()
        .lifecycle_actions()
        .into_iter()
        .find(|a| {
            a["EC2InstanceId"] == json!(instance) && a["AutoScalingGroupName"] == json!(group)
        })
        .expect("a waiting lifecycle action");
    let launching = action["LifecycleTransition"] == json!("autoscaling:EC2_INSTANCE_LAUNCHING");
    json!({
        "version": "0", "id": "d1f6e7a2-9b3c-4c0e-8f21-5a6b7c8d9e0f",
        "detail-type": if launching { "EC2 Instance-launch Lifecycle Action" } else { "EC2 Instance-terminate Lifecycle Action" },
        "source": "aws.autoscaling", "account": "123456789012", "time": "2026-11-27T14:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/{group}")],
        "detail": {
            "LifecycleActionToken": action["LifecycleActionToken"],
            "AutoScalingGroupName": action["AutoScalingGroupName"],
            "LifecycleHookName": action["LifecycleHookName"],
            "EC2InstanceId": instance,
            "LifecycleTransition": action["LifecycleTransition"],
            "NotificationMetadata": "", "Origin": "EC2", "Destination": "AutoScalingGroup"
        }
    })
}

/// What EventBridge would deliver now: one event per instance of this group waiting on a hook.
pub(crate) fn waiting_actions(s: &Setup) -> Vec<Value> {
    waiting_actions_of(&s.cluster.asg_name)
}

pub(crate) fn waiting_actions_of(group: &str) -> Vec<Value> {
    Emulator::shared()
        .lifecycle_actions()
        .into_iter()
        .filter(|a| a["AutoScalingGroupName"] == json!(group))
        .map(|a| lifecycle_event_of(group, a["EC2InstanceId"].as_str().expect("an instance id")))
        .collect()
}

/// One delivery of `event` at `now` (the fault suites re-drive with it).
pub(crate) async fn handle_at(
    event: &Value,
    id: String,
    now: Millis,
    deps: &Deps,
) -> Result<Vec<lifecycle::ActionOutcome>, halfhour::Error> {
    handle(event, &at(&id, now), deps).await
}

pub(crate) fn calls(app: &str, action: &str) -> Vec<halfhour_tests::LoggedRequest> {
    Emulator::shared()
        .requests(app)
        .into_iter()
        .filter(|r| r.action == action && r.status == 200)
        .collect()
}

/// The event's own time is 2026-11-27T14:00:00Z; decisions are taken relative to it.
pub(crate) fn event_time() -> Millis {
    halfhour::domain::parse_timestamp("2026-11-27T14:00:00Z").expect("valid timestamp")
}

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
    assert_eq!(outcome[0].decision, json!("Continue"));
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
        early[0].decision,
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
        late[0].decision,
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
        outcome[0].decision,
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

#[tokio::test]
async fn three_broken_launches_trip_the_breaker_revert_the_template_and_notify() {
    let emulator = Emulator::shared();
    let s = setup("lc-breaker", &[]).await;
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
    ec2.create_launch_template_version()
        .launch_template_id(&s.cluster.launch_template_id)
        .source_version("1")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(&broken_image)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.modify_launch_template()
        .launch_template_id(&s.cluster.launch_template_id)
        .default_version("2")
        .send()
        .await
        .unwrap();
    let cluster = ClusterName::new(&s.cluster.name).unwrap();
    s.deps
        .store
        .write_doc(
            &cluster,
            "bake",
            &json!({"release": "r1", "previous_version": 1, "new_version": 2, "finished": true})
                .to_string(),
            None,
        )
        .await
        .unwrap();
    emulator.set_default_probe(false);
    set_desired(&s, 3).await;
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
        decisions.push(late[0].decision.clone());
        t = t.plus(Duration::from_secs(1));
    }
    emulator.set_default_probe(true);
    let abandon = json!({"Abandon": {"reason": "NotReadyInBudget"}});
    assert_eq!(decisions[..3], [abandon.clone(), abandon.clone(), abandon]);
    assert_eq!(
        decisions[3],
        json!({"Wait": {"reason": "BreakerOpen"}}),
        "no further ABANDON"
    );
    let abandons = calls(&s.app, "CompleteLifecycleAction");
    assert_eq!(abandons.len(), 3);
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
    let published = calls(&s.app, "Publish");
    assert_eq!(published.len(), 1);
    assert!(
        published[0].params["Message"]
            .as_str()
            .unwrap()
            .contains("from version 2 to 1")
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
    assert_eq!(outcome[0].decision, json!("Continue"));
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
    assert_eq!(outcome[0].decision, json!("Continue"));
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
    let test_notification = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json!({
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

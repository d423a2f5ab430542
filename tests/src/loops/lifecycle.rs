//! The lifecycle loop's setup: the function on a seeded cluster with its hooks, launches, the
//! lifecycle events AWS sends, and the actions still waiting.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use halfhour::domain::Millis;
use lifecycle::{Deps, Invocation, LifecycleConfig, handle};
use serde_json::{Value, json};

use crate::{Cluster, Emulator, Shape};

pub struct Setup {
    pub config: aws_config::SdkConfig,
    pub cluster: Cluster,
    pub deps: Arc<Deps>,
    pub app: String,
}

pub async fn setup(app: &str, extra: &[(&str, &str)]) -> Setup {
    setup_shaped(app, extra, &Shape::default()).await
}

pub async fn setup_shaped(app: &str, extra: &[(&str, &str)], shape: &Shape) -> Setup {
    let emulator = Emulator::shared();
    let (seed, cluster, topic) = super::seeded_with_topic_shaped(app, shape).await;
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
    let (function_config, app) = emulator
        .function_sdk_config("lifecycle", app, &cluster.name)
        .await;
    let deps = Arc::new(Deps::from_sdk(lifecycle_config, &function_config));
    Setup {
        config: seed,
        cluster,
        deps,
        app,
    }
}

pub async fn set_desired(s: &Setup, desired: i32) {
    aws_sdk_autoscaling::Client::new(&s.config)
        .set_desired_capacity()
        .auto_scaling_group_name(&s.cluster.asg_name)
        .desired_capacity(desired)
        .send()
        .await
        .expect("desired capacity set");
}

/// Scale the group to 3: one new instance, waiting on the launch hook.
pub async fn launch_one(s: &Setup) -> String {
    set_desired(s, 3).await;
    s.cluster
        .instances_in(&s.config, "Pending:Wait")
        .await
        .expect("instances")
        .remove(0)
}

pub fn at(id: &str, now: Millis) -> Invocation {
    Invocation::new(id, now, Duration::from_secs(60))
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
            "NotificationMetadata": "",
            "Origin": action.get("Origin").cloned().unwrap_or(json!("EC2")),
            "Destination": action.get("Destination").cloned().unwrap_or(json!("AutoScalingGroup"))
        }
    })
}

/// The EventBridge event AWS delivers for the emulator's waiting action on `instance`.
pub fn lifecycle_event(s: &Setup, instance: &str) -> Value {
    lifecycle_event_of(&s.cluster.asg_name, instance)
}

/// What EventBridge would deliver now: one event per instance of this group waiting on a hook.
pub fn waiting_actions(s: &Setup) -> Vec<Value> {
    waiting_actions_of(&s.cluster.asg_name)
}

pub fn waiting_actions_of(group: &str) -> Vec<Value> {
    Emulator::shared()
        .lifecycle_actions()
        .into_iter()
        .filter(|a| a["AutoScalingGroupName"] == json!(group))
        .map(|a| lifecycle_event_of(group, a["EC2InstanceId"].as_str().expect("an instance id")))
        .collect()
}

/// One delivery of `event` at `now` (the fault suites re-drive with it).
pub async fn handle_at(
    event: &Value,
    id: String,
    now: Millis,
    deps: &Deps,
) -> Result<Vec<lifecycle::ActionOutcome>, halfhour::Error> {
    handle(event, &at(&id, now), deps).await
}

pub fn calls(app: &str, action: &str) -> Vec<crate::LoggedRequest> {
    Emulator::shared()
        .requests(app)
        .into_iter()
        .filter(|r| r.action == action && r.status == 200)
        .collect()
}

/// The event's own time is 2026-11-27T14:00:00Z; decisions are taken relative to it.
pub fn event_time() -> Millis {
    halfhour::domain::parse_timestamp("2026-11-27T14:00:00Z").expect("valid timestamp")
}

//! The gold-image loop's setup: the function on a seeded cluster, bake requests and AMI events,
//! and the checks on the group, its template and its images.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gold_image::plan::Step;
use gold_image::{Deps, GoldImageConfig, Invocation, handle};
use halfhour::clock;
use halfhour::domain::Millis;
use serde_json::{Value, json};

use crate::fixture::{LAUNCH_HOOK, TERMINATE_HOOK};
use crate::{Cluster, Emulator, Shape};

pub struct Setup {
    pub config: aws_config::SdkConfig,
    pub cluster: Cluster,
    pub deps: Arc<Deps>,
    pub app: String,
}

pub fn gold_config(cluster: &Cluster, extra: &[(&str, &str)]) -> GoldImageConfig {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("HALFHOUR_TABLE".into(), cluster.table.clone()),
        ("HALFHOUR_CLUSTER".into(), cluster.name.clone()),
        ("HALFHOUR_ASG_NAME".into(), cluster.asg_name.clone()),
        (
            "HALFHOUR_DB_INSTANCE_ID".into(),
            cluster.db_instance_id.clone(),
        ),
        // One pass unless a test asks for the canary (gold_image_canary does).
        ("HALFHOUR_CANARY_BAKE_SECONDS".into(), "0".into()),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    GoldImageConfig::from_lookup(|name| vars.get(name).cloned()).expect("valid config")
}

/// A seeded cluster; without its lifecycle hooks when `hooks` is false, so launches go
/// straight InService (the lifecycle loop is not under test here).
pub async fn setup(app: &str, hooks: bool, extra: &[(&str, &str)]) -> Setup {
    setup_shaped(app, hooks, extra, &Shape::default()).await
}

pub async fn setup_shaped(app: &str, hooks: bool, extra: &[(&str, &str)], shape: &Shape) -> Setup {
    let emulator = Emulator::shared();
    let seed = emulator.sdk_config(&format!("{app}-seed")).await;
    let cluster = Cluster::seed_shaped(shape).await.expect("cluster seeded");
    if !hooks {
        let asg = aws_sdk_autoscaling::Client::new(&seed);
        for hook in [LAUNCH_HOOK, TERMINATE_HOOK] {
            asg.delete_lifecycle_hook()
                .auto_scaling_group_name(&cluster.asg_name)
                .lifecycle_hook_name(hook)
                .send()
                .await
                .expect("hook deleted");
        }
    }
    let (function_config, app) = emulator
        .function_sdk_config("gold-image", app, &cluster.name)
        .await;
    let mut extra = extra.to_vec();
    extra.push(("HALFHOUR_NOTIFY_TOPIC_ARN", &cluster.topic_arn));
    let deps = Arc::new(Deps::from_sdk(
        gold_config(&cluster, &extra),
        &function_config,
    ));
    Setup {
        config: seed,
        cluster,
        deps,
        app,
    }
}

pub fn invocation(id: &str) -> Invocation {
    Invocation::new(id, clock::now(), Duration::from_secs(60))
}

/// One delivery of `event` at `now` (the fault suites re-drive with it).
pub async fn handle_at(
    event: &Value,
    id: String,
    now: Millis,
    deps: &Deps,
) -> Result<gold_image::BakeReport, halfhour::Error> {
    let invocation = Invocation::new(id, now, Duration::from_secs(60));
    handle(event, &invocation, deps).await
}

pub fn bake_request(cluster: &Cluster) -> Value {
    json!({"action": "bake", "cluster": cluster.name, "reason": "release 42"})
}

pub fn ami_event(image_id: &str, state: &str) -> Value {
    json!({
        "version": "0", "id": "7b1ed6a4-3aa4-4d6b-9b3c-8f0c2f0d0a11", "detail-type": "EC2 AMI State Change",
        "source": "aws.ec2", "account": "123456789012", "time": "2026-11-27T14:30:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1::image/{image_id}")],
        "detail": {"RequestId": "3d2b2c8e-1a4f-4e55-a1c4-7f0e6d2b9c11", "ImageId": image_id, "State": state, "ErrorMessage": ""}
    })
}

pub fn actions(app: &str, action: &str) -> Vec<crate::LoggedRequest> {
    Emulator::shared()
        .requests(app)
        .into_iter()
        .filter(|r| r.action == action)
        .collect()
}

pub fn created_images(app: &str) -> usize {
    actions(app, "CreateImage")
        .iter()
        .filter(|r| r.status == 200)
        .count()
}

/// Three InService (2 without hooks + 1): a reference can leave without a scale-up first.
pub async fn three_in_service(s: &Setup) {
    aws_sdk_autoscaling::Client::new(&s.config)
        .set_desired_capacity()
        .auto_scaling_group_name(&s.cluster.asg_name)
        .desired_capacity(3)
        .send()
        .await
        .expect("desired capacity 3");
}

pub async fn in_standby(s: &Setup) -> Vec<String> {
    s.cluster
        .instances_in(&s.config, "Standby")
        .await
        .expect("instances")
}

pub async fn serving(s: &Setup) -> usize {
    s.cluster
        .instances_in(&s.config, "InService")
        .await
        .expect("instances")
        .len()
}

pub async fn default_image(s: &Setup) -> Option<String> {
    aws_sdk_ec2::Client::new(&s.config)
        .describe_launch_template_versions()
        .launch_template_id(&s.cluster.launch_template_id)
        .versions("$Default")
        .send()
        .await
        .expect("versions")
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data()?.image_id().map(str::to_owned))
}

/// The launch-template version the group names.
pub async fn group_version(s: &Setup) -> String {
    aws_sdk_autoscaling::Client::new(&s.config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&s.cluster.asg_name)
        .send()
        .await
        .expect("group")
        .auto_scaling_groups()[0]
        .launch_template()
        .and_then(|t| t.version())
        .expect("a launch template version")
        .to_owned()
}

pub fn image_of(report: &gold_image::BakeReport) -> String {
    report
        .bake
        .as_ref()
        .and_then(|b| b.image_id.as_ref().map(ToString::to_string))
        .expect("an image id")
}

/// The steps of a report as its caller gets them (the function's JSON answer).
pub fn wire(steps: &[Step]) -> Vec<Value> {
    steps.iter().map(|step| json!(step)).collect()
}

/// Reconcile ticks until the bake finished (its refresh over), letting whatever waits on a hook
/// go on: every tick's steps, and the fewest instances serving on the way.
pub async fn tick_until_finished(s: &Setup, name: &str) -> (Vec<Value>, usize) {
    let mut steps = Vec::new();
    let mut fewest = serving(s).await;
    for tick in 0..30 {
        s.cluster
            .continue_waiting(&s.config)
            .await
            .expect("hooks continued");
        let report = handle(
            &json!({"action": "reconcile"}),
            &invocation(&format!("{name}-{tick}")),
            &s.deps,
        )
        .await
        .expect("a tick");
        fewest = fewest.min(serving(s).await);
        steps.extend(wire(&report.steps));
        if report.bake.is_some_and(|b| b.finished) {
            return (steps, fewest);
        }
    }
    panic!("the bake did not finish in 30 ticks: {steps:?}");
}

/// Three serving, then a bake up to its roll-out: the image made, available, its AMI event
/// delivered. The image, and what the AMI event did.
pub async fn bake_to_rollout(s: &Setup) -> (String, gold_image::BakeReport) {
    three_in_service(s).await;
    let started = handle(&bake_request(&s.cluster), &invocation("bake"), &s.deps)
        .await
        .expect("the bake starts");
    let image = image_of(&started);
    Emulator::shared().set_image_state(&image, "available");
    let finished = handle(&ami_event(&image, "available"), &invocation("ami"), &s.deps)
        .await
        .expect("the AMI event rolls it out");
    (image, finished)
}

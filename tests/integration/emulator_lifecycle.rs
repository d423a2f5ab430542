//! The emulator's lifecycle-hook semantics, proved with the Rust SDK (the loops depend on them).

use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use halfhour_tests::fixture::{LAUNCH_HOOK, TERMINATE_HOOK};
use halfhour_tests::{Cluster, Emulator};

async fn cluster(app: &str) -> (aws_config::SdkConfig, Client, Cluster) {
    let config = Emulator::shared().sdk_config(app).await;
    let cluster = Cluster::seed().await.expect("cluster seeded");
    (config.clone(), Client::new(&config), cluster)
}

async fn set_desired(
    asg: &Client,
    cluster: &Cluster,
    desired: i32,
) -> Result<
    (),
    aws_sdk_autoscaling::error::SdkError<
        aws_sdk_autoscaling::operation::set_desired_capacity::SetDesiredCapacityError,
    >,
> {
    asg.set_desired_capacity()
        .auto_scaling_group_name(&cluster.asg_name)
        .desired_capacity(desired)
        .send()
        .await
        .map(|_| ())
}

async fn complete(
    asg: &Client,
    cluster: &Cluster,
    hook: &str,
    instance: &str,
    result: &str,
) -> Result<(), String> {
    asg.complete_lifecycle_action()
        .auto_scaling_group_name(&cluster.asg_name)
        .lifecycle_hook_name(hook)
        .instance_id(instance)
        .lifecycle_action_result(result)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "{}: {}",
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default()
            )
        })
}

#[tokio::test]
async fn launched_instance_waits_then_continue_puts_it_in_service() {
    let (config, asg, cluster) = cluster("lc-continue").await;
    set_desired(&asg, &cluster, 3).await.unwrap();
    let waiting = cluster.instances_in(&config, "Pending:Wait").await.unwrap();
    assert_eq!(waiting.len(), 1);
    let target_ids = |config| {
        let arn = cluster.target_group_arn.clone();
        async move {
            let health = aws_sdk_elasticloadbalancingv2::Client::new(config)
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .unwrap();
            let mut ids: Vec<String> = health
                .target_health_descriptions()
                .iter()
                .filter_map(|d| d.target()?.id().map(str::to_owned))
                .collect();
            ids.sort();
            ids
        }
    };
    assert!(
        !target_ids(&config).await.contains(&waiting[0]),
        "a waiting instance gets no traffic"
    );
    complete(&asg, &cluster, LAUNCH_HOOK, &waiting[0], "CONTINUE")
        .await
        .unwrap();
    let in_service = cluster.instances_in(&config, "InService").await.unwrap();
    assert_eq!(in_service.len(), 3);
    assert!(in_service.contains(&waiting[0]));
    assert_eq!(target_ids(&config).await, in_service);
}

#[tokio::test]
async fn abandon_terminates_and_replaces_the_instance() {
    let (config, asg, cluster) = cluster("lc-abandon").await;
    set_desired(&asg, &cluster, 3).await.unwrap();
    let broken = cluster
        .instances_in(&config, "Pending:Wait")
        .await
        .unwrap()
        .remove(0);
    complete(&asg, &cluster, LAUNCH_HOOK, &broken, "ABANDON")
        .await
        .unwrap();
    let instances = cluster.instances(&config).await.unwrap();
    assert!(
        instances.iter().all(|(id, _)| *id != broken),
        "abandoned instance left the group"
    );
    let replacement: Vec<_> = instances
        .iter()
        .filter(|(_, s)| s == "Pending:Wait")
        .collect();
    assert_eq!(
        replacement.len(),
        1,
        "a replacement waits in its place: {instances:?}"
    );
    let state = aws_sdk_ec2::Client::new(&config)
        .describe_instances()
        .instance_ids(&broken)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_owned());
    assert_eq!(state.as_deref(), Some("terminated"));
}

#[tokio::test]
async fn completing_an_instance_that_is_not_waiting_is_refused_like_aws() {
    let (config, asg, cluster) = cluster("lc-noaction").await;
    let serving = cluster
        .instances_in(&config, "InService")
        .await
        .unwrap()
        .remove(0);
    let err = complete(&asg, &cluster, LAUNCH_HOOK, &serving, "CONTINUE")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        format!("ValidationError: No active Lifecycle Action found with instance ID {serving}")
    );
}

#[tokio::test]
async fn set_desired_capacity_outside_bounds_is_rejected() {
    let (config, asg, cluster) = cluster("lc-bounds").await;
    let err = asg
        .set_desired_capacity()
        .auto_scaling_group_name(&cluster.asg_name)
        .desired_capacity(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"));
    assert_eq!(
        err.message(),
        Some("New SetDesiredCapacity value 11 is above max value 10 for the AutoScalingGroup.")
    );
    let err = asg
        .set_desired_capacity()
        .auto_scaling_group_name(&cluster.asg_name)
        .desired_capacity(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"));
    assert_eq!(
        cluster.instances(&config).await.unwrap().len(),
        2,
        "nothing changed"
    );
}

#[tokio::test]
async fn terminating_hook_holds_the_instance_until_continue() {
    let (config, asg, cluster) = cluster("lc-terminate").await;
    set_desired(&asg, &cluster, 3).await.unwrap();
    let new = cluster
        .instances_in(&config, "Pending:Wait")
        .await
        .unwrap()
        .remove(0);
    complete(&asg, &cluster, LAUNCH_HOOK, &new, "CONTINUE")
        .await
        .unwrap();
    set_desired(&asg, &cluster, 2).await.unwrap();
    let leaving = cluster
        .instances_in(&config, "Terminating:Wait")
        .await
        .unwrap();
    assert_eq!(leaving.len(), 1);
    complete(&asg, &cluster, TERMINATE_HOOK, &leaving[0], "CONTINUE")
        .await
        .unwrap();
    let instances = cluster.instances(&config).await.unwrap();
    assert_eq!(instances.len(), 2);
    assert!(
        instances
            .iter()
            .all(|(id, s)| *id != leaving[0] && s == "InService")
    );
}

#[tokio::test]
async fn heartbeat_extends_the_wait_and_timeout_applies_the_default_result() {
    let emulator = Emulator::shared();
    let (config, asg, cluster) = cluster("lc-timeout").await;
    // A short hook of its own, so the clock advance stays far below the shared fixture's 3600 s.
    asg.put_lifecycle_hook()
        .auto_scaling_group_name(&cluster.asg_name)
        .lifecycle_hook_name(LAUNCH_HOOK)
        .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
        .heartbeat_timeout(30)
        .default_result("ABANDON")
        .send()
        .await
        .unwrap();
    set_desired(&asg, &cluster, 3).await.unwrap();
    let waiting = cluster
        .instances_in(&config, "Pending:Wait")
        .await
        .unwrap()
        .remove(0);
    emulator.advance_clock(20);
    asg.record_lifecycle_action_heartbeat()
        .auto_scaling_group_name(&cluster.asg_name)
        .lifecycle_hook_name(LAUNCH_HOOK)
        .instance_id(&waiting)
        .send()
        .await
        .unwrap();
    emulator.advance_clock(20);
    assert!(
        cluster
            .instances_in(&config, "Pending:Wait")
            .await
            .unwrap()
            .contains(&waiting),
        "heartbeat restarted the timeout"
    );
    emulator.advance_clock(11);
    let instances = cluster.instances(&config).await.unwrap();
    assert!(
        instances.iter().all(|(id, _)| *id != waiting),
        "timeout applied ABANDON: {instances:?}"
    );
}

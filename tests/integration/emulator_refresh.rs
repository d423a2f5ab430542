// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_autoscaling::types::{InstanceRefreshStatus, RefreshPreferences};
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use halfhour_tests::{Cluster, Emulator};

#[tokio::test]
async fn instance_refresh_replaces_instances_with_the_default_versions_image() {
    let config = Emulator::shared().sdk_config("refresh").await;
    let cluster = Cluster::seed().await.unwrap();
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    // The group has no launch hook for this test, so replacements go straight InService.
    for hook in [
        halfhour_tests::fixture::LAUNCH_HOOK,
        halfhour_tests::fixture::TERMINATE_HOOK,
    ] {
        asg.delete_lifecycle_hook()
            .auto_scaling_group_name(&cluster.asg_name)
            .lifecycle_hook_name(hook)
            .send()
            .await
            .unwrap();
    }
    let old = cluster.instances_in(&config, "InService").await.unwrap();
    let serving = old[0].clone();
    let new_image = ec2
        .create_image()
        .instance_id(&serving)
        .name("gold-1")
        .no_reboot(false)
        .send()
        .await
        .unwrap()
        .image_id
        .unwrap();
    let version = ec2
        .create_launch_template_version()
        .launch_template_id(&cluster.launch_template_id)
        .source_version("$Default")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(&new_image)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .launch_template_version
        .and_then(|v| v.version_number)
        .unwrap();
    ec2.modify_launch_template()
        .launch_template_id(&cluster.launch_template_id)
        .default_version(version.to_string())
        .send()
        .await
        .unwrap();
    let id = asg
        .start_instance_refresh()
        .auto_scaling_group_name(&cluster.asg_name)
        .preferences(
            RefreshPreferences::builder()
                .min_healthy_percentage(50)
                .instance_warmup(60)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instance_refresh_id
        .unwrap();
    let second = asg
        .start_instance_refresh()
        .auto_scaling_group_name(&cluster.asg_name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(second.code(), Some("InstanceRefreshInProgress"));
    let listed = asg
        .describe_instance_refreshes()
        .auto_scaling_group_name(&cluster.asg_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.instance_refreshes()[0].instance_refresh_id(),
        Some(id.as_str())
    );
    let (fewest, status) = run_refresh(&config, &cluster).await;
    assert!(fewest >= 1, "the refresh keeps instances serving");
    assert_eq!(status, Some(InstanceRefreshStatus::Successful));
    let now = cluster.instances_in(&config, "InService").await.unwrap();
    assert_eq!(now.len(), 2);
    assert!(
        now.iter().all(|id| !old.contains(id)),
        "every old instance was replaced"
    );
    let images: Vec<String> = ec2
        .describe_instances()
        .set_instance_ids(Some(now))
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.image_id().map(str::to_owned))
        .collect();
    assert_eq!(images, vec![new_image.clone(), new_image]);
    let cancel = asg
        .cancel_instance_refresh()
        .auto_scaling_group_name(&cluster.asg_name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(cancel.code(), Some("ActiveInstanceRefreshNotFound"));
}

/// A cluster of two serving instances on launch-template version `group_version` (its hooks
/// kept, so a launch takes a step to serve), and a second version; returns (cluster, version).
async fn two_serving_and_a_new_version(
    config: &aws_config::SdkConfig,
    group_version: &'static str,
) -> (Cluster, i64) {
    let shape = halfhour_tests::Shape {
        group_version,
        ..halfhour_tests::Shape::default()
    };
    let cluster = Cluster::seed_shaped(&shape).await.unwrap();
    let version = cluster
        .new_template_version(
            config,
            RequestLaunchTemplateData::builder()
                .image_id(&cluster.image_id)
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
                .build(),
        )
        .await
        .unwrap();
    (cluster, version)
}

fn desired_configuration(
    cluster: &Cluster,
    version: &str,
) -> aws_sdk_autoscaling::types::DesiredConfiguration {
    aws_sdk_autoscaling::types::DesiredConfiguration::builder()
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&cluster.launch_template_id)
                .version(version)
                .build(),
        )
        .build()
}

/// Step the group's refresh (each DescribeInstanceRefreshes is one batch) until it ends, and
/// return the fewest instances in service seen on the way and how it ended.
async fn run_refresh(
    config: &aws_config::SdkConfig,
    cluster: &Cluster,
) -> (usize, Option<InstanceRefreshStatus>) {
    let mut fewest = usize::MAX;
    for _ in 0..20 {
        fewest = fewest.min(
            cluster
                .instances_in(config, "InService")
                .await
                .unwrap()
                .len(),
        );
        let status = look(config, cluster).await.status().cloned();
        if matches!(
            status,
            Some(
                InstanceRefreshStatus::Successful
                    | InstanceRefreshStatus::Failed
                    | InstanceRefreshStatus::Cancelled
                    | InstanceRefreshStatus::RollbackSuccessful
            )
        ) {
            return (fewest, status);
        }
    }
    (fewest, None)
}

async fn group_version(config: &aws_config::SdkConfig, cluster: &Cluster) -> String {
    aws_sdk_autoscaling::Client::new(config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&cluster.asg_name)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .launch_template()
        .and_then(|t| t.version())
        .unwrap()
        .to_owned()
}

/// What AWS documents for instance refresh, checked the way an outside script would: rollback
/// only with a desired configuration and a numbered version (AutoRollback's ValidationError,
/// RollbackInstanceRefresh's ActiveInstanceRefreshNotFound and IrreversibleInstanceRefresh), a successful refresh writes its
/// version into the group, a pinned group ignores `$Default`, and MinHealthyPercentage 100
/// launches before it terminates only with room above 100% (MaxHealthyPercentage).
#[tokio::test]
async fn refreshes_follow_awss_documented_rules() {
    let config = Emulator::shared().sdk_config("refresh-documented").await;
    let asg = aws_sdk_autoscaling::Client::new(&config);

    // A group on $Default: AutoRollback is refused with and without a desired configuration.
    let (floating, version) = two_serving_and_a_new_version(&config, "$Default").await;
    let without_desired = asg
        .start_instance_refresh()
        .auto_scaling_group_name(&floating.asg_name)
        .preferences(RefreshPreferences::builder().auto_rollback(true).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(without_desired.code(), Some("ValidationError"));
    assert!(
        without_desired
            .message()
            .unwrap()
            .contains("DesiredConfiguration parameter is empty"),
        "{without_desired:?}"
    );
    let from_default = asg
        .start_instance_refresh()
        .auto_scaling_group_name(&floating.asg_name)
        .desired_configuration(desired_configuration(&floating, &version.to_string()))
        .preferences(RefreshPreferences::builder().auto_rollback(true).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(from_default.code(), Some("ValidationError"));
    let nothing_running = asg
        .rollback_instance_refresh()
        .auto_scaling_group_name(&floating.asg_name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        nothing_running.code(),
        Some("ActiveInstanceRefreshNotFound")
    );
    // A refresh without a desired configuration, on $Default, cannot be rolled back.
    asg.start_instance_refresh()
        .auto_scaling_group_name(&floating.asg_name)
        .send()
        .await
        .unwrap();
    let irreversible = asg
        .rollback_instance_refresh()
        .auto_scaling_group_name(&floating.asg_name)
        .send()
        .await
        .unwrap_err();
    assert_eq!(irreversible.code(), Some("IrreversibleInstanceRefresh"));

    // A pinned group launches the version it names, whatever $Default says.
    let (pinned, version) = two_serving_and_a_new_version(&config, "1").await;
    pinned.set_default_version(&config, version).await.unwrap();
    asg.set_desired_capacity()
        .auto_scaling_group_name(&pinned.asg_name)
        .desired_capacity(3)
        .send()
        .await
        .unwrap();
    let launched = pinned.instances_in(&config, "Pending:Wait").await.unwrap();
    let types: Vec<String> = aws_sdk_ec2::Client::new(&config)
        .describe_instances()
        .set_instance_ids(Some(launched))
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_type().map(|t| t.as_str().to_owned()))
        .collect();
    assert_eq!(types.len(), 1);
    assert!(
        types.iter().all(|t| t != "t3.small"),
        "version 1 launched, not $Default: {types:?}"
    );

    let (pinned, version) = two_serving_and_a_new_version(&config, "1").await;
    // MinHealthyPercentage 100 without room above: one at a time, terminate first.
    asg.start_instance_refresh()
        .auto_scaling_group_name(&pinned.asg_name)
        .desired_configuration(desired_configuration(&pinned, &version.to_string()))
        .preferences(
            RefreshPreferences::builder()
                .min_healthy_percentage(100)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (fewest, status) = run_refresh(&config, &pinned).await;
    assert_eq!(status, Some(InstanceRefreshStatus::Successful));
    assert_eq!(
        fewest, 1,
        "without MaxHealthyPercentage the group dips below its desired 2"
    );
    assert_eq!(
        group_version(&config, &pinned).await,
        version.to_string(),
        "a successful refresh writes its desired configuration into the group"
    );

    // With MaxHealthyPercentage 200 it launches first and never serves fewer than 2.
    let (roomy, version) = two_serving_and_a_new_version(&config, "1").await;
    asg.start_instance_refresh()
        .auto_scaling_group_name(&roomy.asg_name)
        .desired_configuration(desired_configuration(&roomy, &version.to_string()))
        .preferences(
            RefreshPreferences::builder()
                .min_healthy_percentage(100)
                .max_healthy_percentage(200)
                .auto_rollback(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (fewest, status) = run_refresh(&config, &roomy).await;
    assert_eq!(status, Some(InstanceRefreshStatus::Successful));
    assert_eq!(fewest, 2);
}

/// One look at the group's newest refresh after letting whatever waits on a hook go on.
async fn look(
    config: &aws_config::SdkConfig,
    cluster: &Cluster,
) -> aws_sdk_autoscaling::types::InstanceRefresh {
    cluster.continue_waiting(config).await.unwrap();
    aws_sdk_autoscaling::Client::new(config)
        .describe_instance_refreshes()
        .auto_scaling_group_name(&cluster.asg_name)
        .send()
        .await
        .unwrap()
        .instance_refreshes()[0]
        .clone()
}

/// How many InService instances run launch-template version `version`, of how many serving.
async fn serving_on(
    config: &aws_config::SdkConfig,
    cluster: &Cluster,
    version: i64,
) -> (usize, usize) {
    let instances = aws_sdk_autoscaling::Client::new(config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&cluster.asg_name)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .instances()
        .to_vec();
    let serving: Vec<_> = instances
        .iter()
        .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
        .collect();
    let on = serving
        .iter()
        .filter(|i| i.launch_template().and_then(|t| t.version()) == Some(&version.to_string()))
        .count();
    (on, serving.len())
}

/// Checkpoints and alarms as AWS documents them: a refresh replaces up to each checkpoint and
/// never past it (however much room MaxHealthyPercentage gives), pauses there for CheckpointDelay
/// on the emulator clock, then goes on; an alarm in ALARM rolls it back with AutoRollback (the
/// reason in RollbackDetails) and fails it without; bad checkpoint or alarm preferences are
/// refused.
#[tokio::test]
async fn refreshes_pause_at_checkpoints_and_roll_back_on_alarms() {
    let config = Emulator::shared().sdk_config("refresh-checkpoints").await;
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let start = |cluster: &Cluster, version: i64, preferences: RefreshPreferences| {
        asg.start_instance_refresh()
            .auto_scaling_group_name(&cluster.asg_name)
            .desired_configuration(desired_configuration(cluster, &version.to_string()))
            .preferences(preferences)
            .send()
    };
    let (cluster, version) = two_serving_and_a_new_version(&config, "1").await;
    let canary_alarm = format!("{}-5xx", cluster.name);
    halfhour_tests::fixture::put_refresh_alarm(&config, &canary_alarm)
        .await
        .unwrap();
    for (preferences, says) in [
        (
            RefreshPreferences::builder().checkpoint_delay(60).build(),
            "requires CheckpointPercentages",
        ),
        (
            RefreshPreferences::builder()
                .checkpoint_percentages(50)
                .checkpoint_percentages(20)
                .build(),
            "ascending order",
        ),
        (
            RefreshPreferences::builder()
                .checkpoint_percentages(50)
                .checkpoint_percentages(100)
                .checkpoint_delay(172_801)
                .build(),
            "between 0 and 172800",
        ),
        (
            RefreshPreferences::builder()
                .alarm_specification(
                    aws_sdk_autoscaling::types::AlarmSpecification::builder()
                        .alarms("no-such-alarm")
                        .build(),
                )
                .build(),
            "do not exist",
        ),
    ] {
        let refused = start(&cluster, version, preferences).await.unwrap_err();
        assert_eq!(refused.code(), Some("ValidationError"));
        assert!(refused.message().unwrap().contains(says), "{refused:?}");
    }

    // Four serving, checkpoints [25, 100], room for four more: the first pass replaces one.
    asg.set_desired_capacity()
        .auto_scaling_group_name(&cluster.asg_name)
        .desired_capacity(4)
        .send()
        .await
        .unwrap();
    cluster.continue_waiting(&config).await.unwrap();
    let canary = |alarms: Option<&str>, rollback: bool| {
        RefreshPreferences::builder()
            .min_healthy_percentage(100)
            .max_healthy_percentage(200)
            .checkpoint_percentages(25)
            .checkpoint_percentages(100)
            .checkpoint_delay(15)
            .auto_rollback(rollback)
            .set_alarm_specification(alarms.map(|a| {
                aws_sdk_autoscaling::types::AlarmSpecification::builder()
                    .alarms(a)
                    .build()
            }))
            .build()
    };
    start(&cluster, version, canary(Some(&canary_alarm), true))
        .await
        .unwrap();
    let mut fewest = usize::MAX;
    let mut paused = None;
    for _ in 0..10 {
        let refresh = look(&config, &cluster).await;
        fewest = fewest.min(serving_on(&config, &cluster, version).await.1);
        if refresh
            .status_reason()
            .is_some_and(|r| r.contains("checkpoint 25%"))
        {
            paused = Some(refresh);
            break;
        }
    }
    let paused = paused.expect("the refresh reached its first checkpoint");
    assert_eq!(paused.status(), Some(&InstanceRefreshStatus::InProgress));
    assert_eq!(paused.percentage_complete(), Some(25));
    assert_eq!(
        serving_on(&config, &cluster, version).await,
        (1, 4),
        "one canary, not the room's four"
    );
    for _ in 0..3 {
        look(&config, &cluster).await;
    }
    assert_eq!(
        serving_on(&config, &cluster, version).await,
        (1, 4),
        "the refresh waits out its delay"
    );
    Emulator::shared().advance_clock(16);
    let mut status = None;
    let mut done = vec![25];
    for _ in 0..20 {
        let refresh = look(&config, &cluster).await;
        fewest = fewest.min(serving_on(&config, &cluster, version).await.1);
        done.extend(refresh.percentage_complete());
        status = refresh.status().cloned();
        if status == Some(InstanceRefreshStatus::Successful) {
            break;
        }
    }
    assert_eq!(status, Some(InstanceRefreshStatus::Successful));
    assert!(
        done.windows(2).all(|w| w[0] <= w[1]),
        "the percentage complete never goes down: {done:?}"
    );
    assert_eq!(serving_on(&config, &cluster, version).await, (4, 4));
    assert_eq!(fewest, 4, "launch before terminate: never fewer serving");

    // An alarm during the checkpoint's delay rolls the canary back.
    let (cluster, version) = two_serving_and_a_new_version(&config, "1").await;
    let canary_alarm = format!("{}-5xx", cluster.name);
    halfhour_tests::fixture::put_refresh_alarm(&config, &canary_alarm)
        .await
        .unwrap();
    let half = RefreshPreferences::builder()
        .min_healthy_percentage(100)
        .max_healthy_percentage(150)
        .checkpoint_percentages(50)
        .checkpoint_percentages(100)
        .checkpoint_delay(600)
        .auto_rollback(true)
        .alarm_specification(
            aws_sdk_autoscaling::types::AlarmSpecification::builder()
                .alarms(&canary_alarm)
                .build(),
        )
        .build();
    start(&cluster, version, half).await.unwrap();
    for _ in 0..10 {
        if look(&config, &cluster)
            .await
            .status_reason()
            .is_some_and(|r| r.contains("checkpoint 50%"))
        {
            break;
        }
    }
    assert_eq!(serving_on(&config, &cluster, version).await, (1, 2));
    aws_sdk_cloudwatch::Client::new(&config)
        .set_alarm_state()
        .alarm_name(&canary_alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("the canary answers 503")
        .send()
        .await
        .unwrap();
    let rolling_back = look(&config, &cluster).await;
    assert_eq!(
        rolling_back.status(),
        Some(&InstanceRefreshStatus::RollbackInProgress)
    );
    let reason = rolling_back
        .rollback_details()
        .and_then(|d| d.rollback_reason())
        .unwrap();
    assert!(reason.contains(&canary_alarm), "{reason}");
    let (fewest, status) = run_refresh(&config, &cluster).await;
    assert_eq!(status, Some(InstanceRefreshStatus::RollbackSuccessful));
    assert_eq!(fewest, 2);
    assert_eq!(
        serving_on(&config, &cluster, version).await,
        (0, 2),
        "the previous version serves"
    );
    assert_eq!(group_version(&config, &cluster).await, "1");

    // Without AutoRollback the same alarm fails the refresh.
    let (cluster, version) = two_serving_and_a_new_version(&config, "1").await;
    let failing = format!("{}-5xx", cluster.name);
    halfhour_tests::fixture::put_refresh_alarm(&config, &failing)
        .await
        .unwrap();
    aws_sdk_cloudwatch::Client::new(&config)
        .set_alarm_state()
        .alarm_name(&failing)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("the canary answers 503")
        .send()
        .await
        .unwrap();
    start(&cluster, version, canary(Some(&failing), false))
        .await
        .unwrap();
    let (_, status) = run_refresh(&config, &cluster).await;
    assert_eq!(status, Some(InstanceRefreshStatus::Failed));
}

use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_autoscaling::types::{InstanceRefreshStatus, RefreshPreferences};
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use halfhour_tests::{Cluster, Emulator};

#[tokio::test]
async fn instance_refresh_replaces_instances_with_the_default_versions_image() {
    let config = Emulator::shared().sdk_config("refresh").await;
    let cluster = Cluster::seed(&config).await.unwrap();
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
    let mut status = None;
    for _ in 0..10 {
        let refreshes = asg
            .describe_instance_refreshes()
            .auto_scaling_group_name(&cluster.asg_name)
            .send()
            .await
            .unwrap();
        let refresh = &refreshes.instance_refreshes()[0];
        assert_eq!(refresh.instance_refresh_id(), Some(id.as_str()));
        assert!(
            !cluster
                .instances_in(&config, "InService")
                .await
                .unwrap()
                .is_empty(),
            "the refresh keeps instances serving"
        );
        status = refresh.status().cloned();
        if status == Some(InstanceRefreshStatus::Successful) {
            break;
        }
    }
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

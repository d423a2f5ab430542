use halfhour_tests::{Cluster, Emulator};

#[tokio::test]
async fn create_image_records_no_reboot_and_reboots_unless_asked_not_to() {
    let emulator = Emulator::shared();
    let config = emulator.sdk_config("images").await;
    let cluster = Cluster::seed().await.unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let instance = cluster
        .instances_in(&config, "InService")
        .await
        .unwrap()
        .remove(0);
    ec2.create_image()
        .instance_id(&instance)
        .name("with-reboot")
        .no_reboot(false)
        .send()
        .await
        .unwrap();
    assert_eq!(emulator.reboots(&instance), 1);
    ec2.create_image()
        .instance_id(&instance)
        .name("without")
        .no_reboot(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        emulator.reboots(&instance),
        1,
        "NoReboot=true skips the reboot"
    );
    let flags: Vec<String> = emulator
        .requests("images")
        .into_iter()
        .filter(|r| r.action == "CreateImage")
        .map(|r| r.params["NoReboot"].as_str().unwrap_or("absent").to_owned())
        .collect();
    assert_eq!(flags, vec!["false", "true"]);
}

#[tokio::test]
async fn request_log_counts_only_the_callers_mutations() {
    let emulator = Emulator::shared();
    let config = emulator.sdk_config("log-reader").await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    ec2.describe_instances().send().await.unwrap();
    ec2.describe_images().owners("amazon").send().await.unwrap();
    assert_eq!(emulator.requests("log-reader").len(), 2);
    assert!(emulator.mutating_requests("log-reader").is_empty());
    ec2.create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let mutations = emulator.mutating_requests("log-reader");
    assert_eq!(mutations.len(), 1);
    assert_eq!(
        (mutations[0].service.as_str(), mutations[0].action.as_str()),
        ("ec2", "CreateVpc")
    );
}

#[tokio::test]
async fn health_check_status_and_probe_outcomes_are_settable() {
    let emulator = Emulator::shared();
    let config = emulator.sdk_config("control").await;
    let cluster = Cluster::seed().await.unwrap();
    let r53 = aws_sdk_route53::Client::new(&config);
    let status = |r53: aws_sdk_route53::Client, id: String| async move {
        r53.get_health_check_status()
            .health_check_id(id)
            .send()
            .await
            .unwrap()
            .health_check_observations()
            .iter()
            .filter_map(|o| o.status_report()?.status().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert!(
        status(r53.clone(), cluster.site_health_check_id.clone())
            .await
            .iter()
            .all(|s| s.starts_with("Success"))
    );
    emulator.set_health_check_status(&cluster.site_health_check_id, false);
    let failing = status(r53.clone(), cluster.site_health_check_id.clone()).await;
    assert!(
        !failing.is_empty() && failing.iter().all(|s| s.starts_with("Failure")),
        "{failing:?}"
    );

    let instance = cluster
        .instances_in(&config, "InService")
        .await
        .unwrap()
        .remove(0);
    emulator.set_instance_probe(&instance, false);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let command_id = ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&instance)
        .parameters(
            "commands",
            vec!["curl -fsS http://localhost/health".to_owned()],
        )
        .send()
        .await
        .unwrap()
        .command
        .and_then(|c| c.command_id)
        .unwrap();
    let invocation = ssm
        .get_command_invocation()
        .command_id(&command_id)
        .instance_id(&instance)
        .send()
        .await
        .unwrap();
    assert_eq!(invocation.status().map(|s| s.as_str()), Some("Failed"));
    emulator.set_instance_probe(&instance, true);
    let invocation = ssm
        .get_command_invocation()
        .command_id(&command_id)
        .instance_id(&instance)
        .send()
        .await
        .unwrap();
    assert_eq!(invocation.status().map(|s| s.as_str()), Some("Success"));
}

/// DeregisterImage as AWS documents it: with DeleteAssociatedSnapshots the image's snapshots go
/// with it (one result each); without, a DeleteSnapshot right after finds the snapshot still in
/// use by the image being deregistered.
#[tokio::test]
async fn deregistering_deletes_the_snapshots_only_when_asked_and_a_quick_delete_finds_them_in_use()
{
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    use aws_sdk_ec2::types::SnapshotReturnCodes;
    let config = Emulator::shared().sdk_config("images-deregister").await;
    let cluster = Cluster::seed().await.expect("seeded");
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let instance = cluster
        .instances_in(&config, "InService")
        .await
        .expect("instances")[0]
        .clone();
    let mut images = Vec::new();
    for name in ["with-snapshots", "without-snapshots"] {
        let id = ec2
            .create_image()
            .instance_id(&instance)
            .name(name)
            .no_reboot(false)
            .send()
            .await
            .expect("image")
            .image_id
            .expect("image id");
        let described = ec2
            .describe_images()
            .image_ids(&id)
            .send()
            .await
            .expect("described");
        let snapshot = described.images()[0]
            .block_device_mappings()
            .iter()
            .find_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
            .expect("the image has a snapshot")
            .to_owned();
        images.push((id, snapshot));
    }
    let (with, with_snapshot) = &images[0];
    let out = ec2
        .deregister_image()
        .image_id(with)
        .delete_associated_snapshots(true)
        .send()
        .await
        .expect("deregistered");
    let results: Vec<_> = out
        .delete_snapshot_results()
        .iter()
        .map(|r| (r.snapshot_id().map(str::to_owned), r.return_code().cloned()))
        .collect();
    assert_eq!(
        results,
        vec![(
            Some(with_snapshot.clone()),
            Some(SnapshotReturnCodes::Success)
        )]
    );
    let gone = ec2
        .describe_snapshots()
        .snapshot_ids(with_snapshot)
        .send()
        .await;
    assert!(
        gone.map(|d| d.snapshots().is_empty())
            .unwrap_or_else(|e| e.code() == Some("InvalidSnapshot.NotFound")),
        "the snapshot went with its image"
    );

    let (without, without_snapshot) = &images[1];
    ec2.deregister_image()
        .image_id(without)
        .send()
        .await
        .expect("deregistered");
    let in_use = ec2
        .delete_snapshot()
        .snapshot_id(without_snapshot)
        .send()
        .await
        .expect_err("still in use right after the deregistration");
    assert_eq!(in_use.code(), Some("InvalidSnapshot.InUse"));
}

/// Run Command reaches managed nodes only: an instance without an instance profile is not one,
/// and SendCommand answers InvalidInstanceId.
#[tokio::test]
async fn send_command_to_an_instance_without_a_profile_is_invalid_instance_id() {
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    let config = Emulator::shared().sdk_config("ssm-managed").await;
    let cluster = Cluster::seed().await.expect("seeded");
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let bare = ec2
        .run_instances()
        .image_id(&cluster.image_id)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("launched")
        .instances()[0]
        .instance_id()
        .expect("instance id")
        .to_owned();
    let ssm = aws_sdk_ssm::Client::new(&config);
    let send = |instance: String| {
        ssm.send_command()
            .document_name("AWS-RunShellScript")
            .instance_ids(instance)
            .parameters("commands", vec!["true".to_owned()])
            .send()
    };
    let refused = send(bare).await.expect_err("not a managed node");
    assert_eq!(refused.code(), Some("InvalidInstanceId"));
    let member = cluster
        .instances_in(&config, "InService")
        .await
        .expect("instances")[0]
        .clone();
    assert!(
        send(member).await.is_ok(),
        "the group's instances have a profile"
    );
}

use halfhour_tests::{Cluster, Emulator};

#[tokio::test]
async fn create_image_records_no_reboot_and_reboots_unless_asked_not_to() {
    let emulator = Emulator::shared();
    let config = emulator.sdk_config("images").await;
    let cluster = Cluster::seed(&config).await.unwrap();
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
    let cluster = Cluster::seed(&config).await.unwrap();
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

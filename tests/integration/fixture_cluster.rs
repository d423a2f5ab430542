use halfhour_tests::{Cluster, Emulator};

#[tokio::test]
async fn seeded_cluster_matches_the_founding_story() {
    let config = Emulator::shared().sdk_config("fixture").await;
    let cluster = Cluster::seed().await.unwrap();

    let group = aws_sdk_autoscaling::Client::new(&config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&cluster.asg_name)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .clone();
    assert_eq!(
        (group.min_size(), group.max_size(), group.desired_capacity()),
        (Some(2), Some(10), Some(2))
    );
    assert_eq!(
        cluster
            .instances_in(&config, "InService")
            .await
            .unwrap()
            .len(),
        2
    );
    let subnets = aws_sdk_ec2::Client::new(&config)
        .describe_subnets()
        .set_subnet_ids(Some(cluster.subnet_ids.clone()))
        .send()
        .await
        .unwrap();
    let mut zones: Vec<_> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .collect();
    zones.sort();
    zones.dedup();
    assert_eq!(zones.len(), 3);

    let db = aws_sdk_rds::Client::new(&config)
        .describe_db_instances()
        .db_instance_identifier(&cluster.db_instance_id)
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .clone();
    assert_eq!((db.engine(), db.multi_az()), (Some("mysql"), Some(true)));

    let records = aws_sdk_route53::Client::new(&config)
        .list_resource_record_sets()
        .hosted_zone_id(&cluster.hosted_zone_id)
        .send()
        .await
        .unwrap();
    let failover: Vec<_> = records
        .resource_record_sets()
        .iter()
        .filter(|r| r.name().trim_end_matches('.') == cluster.record_name)
        .filter_map(|r| {
            Some((
                r.failover()?.as_str().to_owned(),
                r.health_check_id().map(str::to_owned),
            ))
        })
        .collect();
    assert!(
        failover.contains(&(
            "PRIMARY".to_owned(),
            Some(cluster.gate_health_check_id.clone())
        )),
        "{failover:?}"
    );
    assert!(
        failover.iter().any(|(f, _)| f == "SECONDARY"),
        "{failover:?}"
    );

    let website = halfhour_tests::fixture::s3_client(&config)
        .get_bucket_website()
        .bucket(&cluster.bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        website.index_document().map(|d| d.suffix()),
        Some(halfhour_tests::fixture::MAINTENANCE_PAGE)
    );
    assert_eq!(
        cluster.bucket, cluster.record_name,
        "S3 website bucket is named like the record"
    );
}

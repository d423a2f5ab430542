//! The emulator's Route53 change batches, as AWS documents them: all or nothing, no failover
//! record beside a plain one of the same name and type, a DELETE that must repeat the values.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use halfhour_tests::fixture::endpoint_check;
use halfhour_tests::{Cluster, Emulator};

fn plain(name: &str, ip: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
        .build()
        .unwrap()
}

fn primary(name: &str, lb: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .set_identifier("primary")
        .failover(ResourceRecordSetFailover::Primary)
        .alias_target(
            AliasTarget::builder()
                .dns_name(lb)
                .hosted_zone_id("Z35SXDOTRQ7X7K")
                .evaluate_target_health(false)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn change(action: ChangeAction, record: ResourceRecordSet) -> Change {
    Change::builder()
        .action(action)
        .resource_record_set(record)
        .build()
        .unwrap()
}

#[tokio::test]
async fn change_batches_are_all_or_nothing_and_refuse_what_route53_refuses() {
    let config = Emulator::shared().sdk_config("emulator-route53").await;
    let cluster = Cluster::seed().await.unwrap();
    let r53 = aws_sdk_route53::Client::new(&config);
    let zone = &cluster.hosted_zone_id;
    let name = format!("shop.{}", cluster.record_name.split_once('.').unwrap().1);
    let send = |changes: Vec<Change>| {
        r53.change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(changes))
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let records = || async {
        r53.list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap()
            .resource_record_sets()
            .iter()
            .filter(|r| r.name().trim_end_matches('.') == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    send(vec![change(
        ChangeAction::Create,
        plain(&name, "203.0.113.10"),
    )])
    .await
    .unwrap();
    let refused = |err: &aws_sdk_route53::error::SdkError<_>| format!("{err:?}");

    // A failover record beside the plain one: refused.
    let err = send(vec![change(
        ChangeAction::Create,
        primary(&name, &cluster.load_balancer_dns),
    )])
    .await
    .unwrap_err();
    assert!(refused(&err).contains("InvalidChangeBatch"), "{err:?}");
    assert!(
        refused(&err).contains("cannot be created as other RRSets exist"),
        "{err:?}"
    );
    // A valid DELETE and CREATE with a bad DELETE after them: nothing applied.
    let err = send(vec![
        change(ChangeAction::Delete, plain(&name, "203.0.113.10")),
        change(
            ChangeAction::Create,
            primary(&name, &cluster.load_balancer_dns),
        ),
        change(
            ChangeAction::Delete,
            plain(&format!("gone.{name}"), "203.0.113.99"),
        ),
    ])
    .await
    .unwrap_err();
    assert!(refused(&err).contains("but it was not found"), "{err:?}");
    assert_eq!(records().await.len(), 1, "all or nothing");
    assert!(records().await[0].set_identifier().is_none());
    // A DELETE that does not repeat the values: refused.
    let err = send(vec![change(
        ChangeAction::Delete,
        plain(&name, "198.51.100.1"),
    )])
    .await
    .unwrap_err();
    assert!(
        refused(&err).contains("do not match the current values"),
        "{err:?}"
    );
    // The same batch in a valid order: the plain record becomes a failover record at once.
    send(vec![
        change(ChangeAction::Delete, plain(&name, "203.0.113.10")),
        change(
            ChangeAction::Create,
            primary(&name, &cluster.load_balancer_dns),
        ),
    ])
    .await
    .unwrap();
    let now = records().await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].set_identifier(), Some("primary"));
    // A CREATE of what exists: refused.
    let err = send(vec![change(
        ChangeAction::Create,
        primary(&name, &cluster.load_balancer_dns),
    )])
    .await
    .unwrap_err();
    assert!(refused(&err).contains("already exists"), "{err:?}");
}

async fn healthy(config: &aws_config::SdkConfig, id: &str) -> bool {
    halfhour_tests::fixture::reported_healthy(config, id)
        .await
        .unwrap()
}

#[tokio::test]
async fn endpoint_checks_follow_what_the_endpoint_answers_and_string_matching_reads_5120_bytes() {
    use aws_sdk_route53::types::HealthCheckType;
    let emulator = Emulator::shared();
    let config = emulator.sdk_config("emulator-route53-match").await;
    let r53 = aws_sdk_route53::Client::new(&config);
    let host = "lb-match.elb.example";
    let https = endpoint_check(&r53, "m-https", HealthCheckType::HttpsStrMatch, host, 443).await;
    let http = endpoint_check(&r53, "m-http", HealthCheckType::Http, host, 80).await;
    assert!(
        healthy(&config, &https).await,
        "a new health check starts healthy"
    );

    emulator.set_endpoint(host, 443, "/health", 200, "ok: halfhour-healthy");
    assert!(healthy(&config, &https).await);
    emulator.set_endpoint(
        host,
        443,
        "/health",
        200,
        "<h1>Error establishing a database connection</h1>",
    );
    assert!(!healthy(&config, &https).await, "2xx without the string");
    emulator.set_endpoint(host, 443, "/health", 301, "halfhour-healthy");
    assert!(
        healthy(&config, &https).await,
        "3xx with the string counts (AWS: 200..399)"
    );
    emulator.set_endpoint(host, 443, "/health", 503, "halfhour-healthy");
    assert!(!healthy(&config, &https).await, "a 5xx never counts");
    let late = format!("{}halfhour-healthy", " ".repeat(5120 - 10));
    emulator.set_endpoint(host, 443, "/health", 200, &late);
    assert!(
        !healthy(&config, &https).await,
        "beyond the first 5,120 bytes"
    );
    emulator.set_endpoint(host, 443, "/health", 200, "HALFHOUR-HEALTHY");
    assert!(!healthy(&config, &https).await, "case counts");

    // A plain HTTP check counts any 2xx/3xx: the redirect an HTTPS-only site answers on 80.
    emulator.set_endpoint(host, 80, "/health", 301, "");
    assert!(healthy(&config, &http).await);
    emulator.set_endpoint(host, 80, "/health", 502, "");
    assert!(!healthy(&config, &http).await);
}

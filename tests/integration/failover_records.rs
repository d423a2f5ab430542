//! DNS adopted, not taken over: the site's own record becomes the failover pair in one atomic
//! batch at deploy, and a plain alias to the load balancer again at uninstall; what the name
//! answers is checked at every step.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType,
};
use halfhour_tests::Emulator;
use serde_json::{Value, json};

use halfhour_tests::loops::failover::records_request;
use halfhour_tests::loops::failover::{Setup, at, setup, t0};

async fn deliver(s: &Setup, request_type: &str, key: &str) -> Value {
    let request = records_request(s, request_type, key);
    let _ = failover::handle(&request, &at(key, t0()), &s.deps).await;
    Emulator::shared().cfn_responses(key).pop().unwrap()
}

/// Deliver a records request and return CloudFormation's answer and how many change batches the
/// function sent for it: the name resolves throughout only if a change is one atomic batch.
async fn deliver_counting(s: &Setup, request_type: &str, key: &str) -> (Value, usize) {
    let emulator = Emulator::shared();
    let mark = emulator.request_mark(&s.app);
    let answer = deliver(s, request_type, key).await;
    let batches = emulator
        .requests_after(&s.app, mark)
        .iter()
        .filter(|r| r.action == "ChangeResourceRecordSets")
        .count();
    (answer, batches)
}

fn route53(s: &Setup) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::new(&s.config)
}

async fn a_records(s: &Setup) -> Vec<ResourceRecordSet> {
    route53(s)
        .list_resource_record_sets()
        .hosted_zone_id(&s.cluster.hosted_zone_id)
        .send()
        .await
        .unwrap()
        .resource_record_sets()
        .iter()
        .filter(|r| {
            r.name().trim_end_matches('.') == s.cluster.record_name && *r.r#type() == RrType::A
        })
        .cloned()
        .collect()
}

/// The site before halfhour: its own plain alias to the load balancer (the seeded pair, deleted
/// exactly as listed, in the same batch).
async fn the_sites_own_record(s: &Setup) {
    let mut changes: Vec<Change> = a_records(s)
        .await
        .into_iter()
        .map(|r| {
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(r)
                .build()
                .unwrap()
        })
        .collect();
    changes.push(
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(plain_alias(s))
            .build()
            .unwrap(),
    );
    change_batch(s, changes).await;
}

/// The site's own AAAA record: a plain alias to the load balancer (a dual-stack site).
async fn the_sites_own_aaaa(s: &Setup) {
    let aaaa = ResourceRecordSet::builder()
        .name(&s.cluster.record_name)
        .r#type(RrType::Aaaa)
        .alias_target(plain_alias(s).alias_target().unwrap().clone())
        .build()
        .unwrap();
    let create = Change::builder()
        .action(ChangeAction::Create)
        .resource_record_set(aaaa)
        .build()
        .unwrap();
    change_batch(s, vec![create]).await;
}

/// One change batch the test itself sends (someone else's change to the zone).
async fn change_batch(s: &Setup, changes: Vec<Change>) {
    route53(s)
        .change_resource_record_sets()
        .hosted_zone_id(&s.cluster.hosted_zone_id)
        .change_batch(
            ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn plain_alias(s: &Setup) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(&s.cluster.record_name)
        .r#type(RrType::A)
        .alias_target(
            AliasTarget::builder()
                .dns_name(&s.cluster.load_balancer_dns)
                .hosted_zone_id("Z35SXDOTRQ7X7K")
                .evaluate_target_health(false)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn answer(s: &Setup) -> (String, Value) {
    let emulator = Emulator::shared();
    let answer = emulator.resolve_full(&s.cluster.hosted_zone_id, &s.cluster.record_name);
    (
        answer["answer"].as_str().unwrap().to_owned(),
        answer["target"].clone(),
    )
}

#[tokio::test]
async fn a_live_record_is_adopted_and_given_back_with_the_name_resolving_throughout() {
    let emulator = Emulator::shared();
    let s = setup("records-adopt", &[]).await;
    the_sites_own_record(&s).await;
    let balancer = json!(s.cluster.load_balancer_dns);
    assert_eq!(
        answer(&s),
        ("SIMPLE".into(), balancer.clone()),
        "the live site"
    );

    let (created, batches) = deliver_counting(&s, "Create", "records-adopt-1").await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(
        batches, 1,
        "the plain record becomes the pair in one atomic batch"
    );
    assert_eq!(
        answer(&s),
        ("PRIMARY".into(), balancer.clone()),
        "adopted, still the load balancer"
    );
    let kinds: Vec<_> = a_records(&s)
        .await
        .iter()
        .map(|r| r.failover().map(|f| f.as_str().to_owned()))
        .collect();
    assert_eq!(
        kinds,
        vec![Some("PRIMARY".into()), Some("SECONDARY".into())]
    );

    // The pair works: the site fails, Route53 answers the static site by itself.
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    assert_eq!(answer(&s).0, "SECONDARY");
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);

    // A redeploy changes nothing.
    let updated = deliver(&s, "Update", "records-adopt-2").await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(answer(&s).0, "PRIMARY");

    // sam delete: the name answers the load balancer, plainly.
    let (deleted, batches) = deliver_counting(&s, "Delete", "records-adopt-3").await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(
        batches, 1,
        "the pair becomes the plain record in one atomic batch"
    );
    assert_eq!(answer(&s), ("SIMPLE".into(), balancer.clone()));
    let left = a_records(&s).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].set_identifier().is_none());
    // A second delete (CloudFormation retries) has nothing to give back.
    let (again, batches) = deliver_counting(&s, "Delete", "records-adopt-4").await;
    assert_eq!(again["Status"], "SUCCESS");
    assert_eq!(batches, 0);
    assert_eq!(answer(&s), ("SIMPLE".into(), balancer.clone()));

    // A redeploy after the uninstall adopts the record again, in one batch.
    let (redeployed, batches) = deliver_counting(&s, "Create", "records-adopt-5").await;
    assert_eq!(redeployed["Status"], "SUCCESS", "{redeployed}");
    assert_eq!(batches, 1);
    assert_eq!(answer(&s), ("PRIMARY".into(), balancer));
}

#[tokio::test]
async fn observe_mode_leaves_the_record_alone_and_turning_it_off_adopts_it() {
    let dry = setup("records-observe", &[("DRY_RUN", "true")]).await;
    the_sites_own_record(&dry).await;
    assert_eq!(
        deliver(&dry, "Create", "records-observe-1").await["Status"],
        "SUCCESS"
    );
    assert_eq!(
        answer(&dry).0,
        "SIMPLE",
        "observe mode: DNS answers what it answered"
    );
    assert!(
        Emulator::shared()
            .requests(&dry.app)
            .iter()
            .all(|r| r.action != "ChangeResourceRecordSets"),
        "not one record change"
    );
    // The same cluster, now acting (DryRun=false reaches the function as an Update).
    let mut acting = dry.vars.clone();
    acting.insert("DRY_RUN".into(), "false".into());
    let deps = failover::Deps::from_sdk(
        failover::FailoverConfig::from_lookup(|name| acting.get(name).cloned()).unwrap(),
        &dry.function_config,
    );
    let request = records_request(&dry, "Update", "records-observe-2");
    failover::handle(&request, &at("update", t0()), &deps)
        .await
        .unwrap();
    assert_eq!(answer(&dry).0, "PRIMARY");
    // And back to observe mode: given back.
    let request = records_request(&dry, "Update", "records-observe-3");
    failover::handle(&request, &at("back", t0()), &dry.deps)
        .await
        .unwrap();
    assert_eq!(answer(&dry).0, "SIMPLE");
}

#[tokio::test]
async fn a_name_with_another_routing_policy_is_refused_and_left_as_it_was() {
    let s = setup("records-foreign", &[]).await;
    // Someone else's failover records (other identifiers) own the name.
    let mut changes = Vec::new();
    for r in a_records(&s).await {
        changes.push(
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(r.clone())
                .build()
                .unwrap(),
        );
        let theirs = ResourceRecordSet::builder()
            .name(r.name())
            .r#type(RrType::A)
            .set_identifier(format!("theirs-{}", r.set_identifier().unwrap()))
            .set_failover(r.failover().cloned())
            .set_alias_target(r.alias_target().cloned())
            .set_health_check_id(r.health_check_id().map(str::to_owned))
            .build()
            .unwrap();
        changes.push(
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(theirs)
                .build()
                .unwrap(),
        );
    }
    change_batch(&s, changes).await;
    let before = a_records(&s).await;
    let refused = deliver(&s, "Create", "records-foreign-1").await;
    assert_eq!(refused["Status"], "FAILED");
    assert!(
        refused["Reason"]
            .as_str()
            .unwrap()
            .contains("theirs-primary"),
        "{refused}"
    );
    assert_eq!(a_records(&s).await, before, "nothing changed");
}

#[tokio::test]
async fn a_dual_stack_sites_aaaa_is_withdrawn_while_static_and_put_back_after() {
    let emulator = Emulator::shared();
    let s = setup("records-ipv6", &[]).await;
    the_sites_own_record(&s).await;
    the_sites_own_aaaa(&s).await;
    let ipv6 = || async {
        route53(&s)
            .list_resource_record_sets()
            .hosted_zone_id(&s.cluster.hosted_zone_id)
            .send()
            .await
            .unwrap()
            .resource_record_sets()
            .iter()
            .filter(|r| {
                r.name().trim_end_matches('.') == s.cluster.record_name
                    && *r.r#type() == RrType::Aaaa
            })
            .count()
    };
    assert_eq!(
        deliver(&s, "Create", "records-ipv6-1").await["Status"],
        "SUCCESS"
    );
    assert_eq!(ipv6().await, 1, "adoption keeps the AAAA");

    // The site fails: DNS serves the static page, and the AAAA is withdrawn with it.
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    let down = failover::handle(
        &halfhour_tests::loops::failover::health_alarm("ALARM"),
        &at("down", t0()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(down.reason.map(|r| json!(r)), Some(json!("FailedOver")));
    assert_eq!(answer(&s).0, "SECONDARY");
    assert_eq!(ipv6().await, 0, "no IPv6 answer while the site is static");
    // A duplicate delivery changes nothing twice.
    failover::handle(
        &halfhour_tests::loops::failover::health_alarm("ALARM"),
        &at("down-again", t0()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(ipv6().await, 0);

    // Healthy for the hold-down: back to the load balancer, AAAA and all.
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
    let tick = json!({"action": "reconcile"});
    failover::handle(
        &tick,
        &at("up", halfhour_tests::loops::failover::after(10)),
        &s.deps,
    )
    .await
    .unwrap();
    let back = failover::handle(
        &tick,
        &at(
            "back",
            halfhour_tests::loops::failover::after(10 + halfhour_tests::loops::failover::HOLD_DOWN),
        ),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(back.reason.map(|r| json!(r)), Some(json!("FailedBack")));
    assert_eq!(ipv6().await, 1, "put back with the load balancer");

    // Static again, then uninstalled: the plain A record and the AAAA are both back.
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    failover::handle(
        &tick,
        &at("down-2", halfhour_tests::loops::failover::after(4000)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(ipv6().await, 0);
    assert_eq!(
        deliver(&s, "Delete", "records-ipv6-2").await["Status"],
        "SUCCESS"
    );
    assert_eq!(answer(&s).0, "SIMPLE");
    assert_eq!(ipv6().await, 1, "uninstall gives the AAAA back too");
}

#[tokio::test]
async fn the_static_site_bucket_is_created_used_again_by_its_cluster_and_refused_to_others() {
    let s = setup("records-bucket", &[]).await;
    let s3 = halfhour_tests::fixture::s3_client(&s.config);
    let bucket = &s.cluster.bucket;
    let request = |request_type: &str, key: &str| {
        let mut request = records_request(&s, request_type, key);
        request["LogicalResourceId"] = json!("StaticSiteBucket");
        request["ResourceType"] = json!("Custom::StaticSiteBucket");
        request["ResourceProperties"] = json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "BucketName": bucket});
        request
    };
    let send = |request: Value, key: &'static str| {
        let deps = &s.deps;
        async move {
            let _ = failover::handle(&request, &at(key, t0()), deps).await;
            Emulator::shared().cfn_responses(key).pop().unwrap()
        }
    };
    let mutations = || {
        Emulator::shared()
            .mutating_requests(&s.app)
            .into_iter()
            .map(|r| r.action)
            .collect::<Vec<_>>()
    };

    // A bucket of that name that is not this cluster's (untagged): refused.
    s3.delete_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let refused = send(request("Create", "bucket-1"), "bucket-1").await;
    assert_eq!(refused["Status"], "FAILED");
    assert!(
        refused["Reason"]
            .as_str()
            .unwrap()
            .contains("halfhour:cluster"),
        "{refused}"
    );
    assert!(mutations().is_empty(), "untouched: {:?}", mutations());

    // This cluster's retained bucket: used again.
    let tag = aws_sdk_s3::types::Tag::builder()
        .key("halfhour:cluster")
        .value(&s.cluster.name)
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(tag)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let adopted = send(request("Create", "bucket-2"), "bucket-2").await;
    assert_eq!(adopted["Status"], "SUCCESS", "{adopted}");
    assert!(!mutations().contains(&"CreateBucket".to_owned()));

    // No bucket at all: created, a website, tagged as this cluster's.
    s3.delete_bucket().bucket(bucket).send().await.unwrap();
    let created = send(request("Create", "bucket-3"), "bucket-3").await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert!(mutations().contains(&"CreateBucket".to_owned()));
    let website = s3.get_bucket_website().bucket(bucket).send().await.unwrap();
    assert_eq!(
        website.index_document().unwrap().suffix(),
        halfhour_tests::fixture::MAINTENANCE_PAGE
    );
    assert_eq!(
        website.error_document().unwrap().key(),
        halfhour_tests::fixture::MAINTENANCE_PAGE,
        "every path shows the page"
    );
    let tags = s3.get_bucket_tagging().bucket(bucket).send().await.unwrap();
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "halfhour:cluster" && t.value() == s.cluster.name)
    );
    assert!(
        s3.get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap()
            .contains("s3:GetObject")
    );
    // sam delete keeps it.
    assert_eq!(
        send(request("Delete", "bucket-4"), "bucket-4").await["Status"],
        "SUCCESS"
    );
    s3.head_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("retained");
}

/// RecordName changed on a redeploy: CloudFormation then deletes the old resource. The Delete
/// names the old record, which this function may no longer change: it answers and touches
/// nothing, and the name it keeps now stays adopted.
#[tokio::test]
async fn a_delete_for_a_record_the_stack_moved_away_from_leaves_the_kept_one_adopted() {
    let s = setup("records-moved", &[]).await;
    the_sites_own_record(&s).await;
    let (created, _) = deliver_counting(&s, "Create", "records-moved-1").await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(answer(&s).0, "PRIMARY");

    let key = "records-moved-2";
    let mut old = records_request(&s, "Delete", key);
    old["PhysicalResourceId"] = json!("old-www.example.com");
    old["ResourceProperties"]["RecordName"] = json!("old-www.example.com");
    let emulator = Emulator::shared();
    let mark = emulator.request_mark(&s.app);
    let _ = failover::handle(&old, &at(key, t0()), &s.deps).await;
    let reply = emulator.cfn_responses(key).pop().unwrap();
    assert_eq!(reply["Status"], "SUCCESS", "{reply}");
    assert_eq!(reply["PhysicalResourceId"], "old-www.example.com");
    assert!(
        emulator
            .requests_after(&s.app, mark)
            .iter()
            .all(|r| r.action != "ChangeResourceRecordSets"),
        "nothing of the kept name is given back"
    );
    assert_eq!(answer(&s).0, "PRIMARY");
}

/// A dual-stack site whose static side is CloudFront (which answers IPv6): its own AAAA becomes
/// a failover pair beside the A pair, in the same batch, so IPv6 visitors fail over with Route53
/// too instead of losing the name; uninstalled, both plain records are back.
#[tokio::test]
async fn behind_cloudfront_a_dual_stack_sites_aaaa_fails_over_too() {
    let emulator = Emulator::shared();
    let s = setup("records-ipv6-cf", &[]).await;
    the_sites_own_record(&s).await;
    the_sites_own_aaaa(&s).await;
    let distribution = emulator.static_distribution(&s.cluster.bucket, &s.cluster.record_name);
    let domain = distribution["domain_name"].as_str().unwrap().to_owned();
    let ipv6 = || emulator.resolve_kind(&s.cluster.hosted_zone_id, &s.cluster.record_name, "AAAA");
    assert_eq!(ipv6()["answer"], "SIMPLE");

    let (created, batches) = deliver_cloudfront(&s, &domain, "Create", "records-ipv6-cf-1").await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(batches, 1, "A and AAAA become pairs in one atomic batch");
    assert_eq!(answer(&s).0, "PRIMARY");
    assert_eq!(ipv6()["answer"], "PRIMARY");

    // The site fails: Route53 sends IPv6 visitors to the distribution by itself, and the
    // failover loop withdraws nothing.
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    assert_eq!(ipv6()["answer"], "SECONDARY");
    assert_eq!(ipv6()["target"], json!(domain));
    let mark = emulator.request_mark(&s.app);
    let down = failover::handle(
        &halfhour_tests::loops::failover::health_alarm("ALARM"),
        &at("cf-down", t0()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(down.reason.map(|r| json!(r)), Some(json!("FailedOver")));
    assert!(
        emulator
            .requests_after(&s.app, mark)
            .iter()
            .all(|r| r.action != "ChangeResourceRecordSets"),
        "the AAAA pair needs no withdrawal"
    );
    assert_eq!(ipv6()["answer"], "SECONDARY");
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);

    // A redeploy changes nothing; the uninstall gives both plain records back in one batch.
    let (updated, batches) = deliver_cloudfront(&s, &domain, "Update", "records-ipv6-cf-2").await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(batches, 0);
    let (deleted, batches) = deliver_cloudfront(&s, &domain, "Delete", "records-ipv6-cf-3").await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert_eq!(batches, 1);
    assert_eq!(answer(&s).0, "SIMPLE");
    assert_eq!(ipv6()["answer"], "SIMPLE");
    assert_eq!(ipv6()["target"], json!(s.cluster.load_balancer_dns));
}

/// A records request of the CloudFront mode (SECONDARY → the distribution `domain`, IPv6 on
/// both sides), delivered; CloudFormation's answer and the change batches sent for it.
async fn deliver_cloudfront(
    s: &Setup,
    domain: &str,
    request_type: &str,
    key: &str,
) -> (Value, usize) {
    let mut request = records_request(s, request_type, key);
    let properties = &mut request["ResourceProperties"];
    properties["StaticSiteDomain"] = json!(domain);
    properties["StaticSiteHostedZoneId"] = json!("Z2FDTNDATAQYW2");
    properties["StaticSiteIpv6"] = json!("true");
    let emulator = Emulator::shared();
    let mark = emulator.request_mark(&s.app);
    let _ = failover::handle(&request, &at(key, t0()), &s.deps).await;
    let batches = emulator
        .requests_after(&s.app, mark)
        .iter()
        .filter(|r| r.action == "ChangeResourceRecordSets")
        .count();
    (emulator.cfn_responses(key).pop().unwrap(), batches)
}

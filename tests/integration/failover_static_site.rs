//! The static side as visitors get it: the operator's own page kept through fail-overs, and the
//! CloudFront mode — a private bucket behind a distribution that answers 503 with the page and
//! `Retry-After` for every path.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use aws_sdk_s3::primitives::ByteStream;
use halfhour::ports::Web;
use halfhour_tests::Emulator;
use halfhour_tests::fixture::{HEALTH_PATH, MAINTENANCE_PAGE, s3_client};
use serde_json::json;

use halfhour_tests::loops::failover::records_request;
use halfhour_tests::loops::failover::{
    HOLD_DOWN, after, at, handle_at, health_alarm, setup, t0, visitors_get,
};

const OPERATORS_PAGE: &str =
    "<html><body><h1>Shop closed for maintenance</h1><p>Back at 14:00.</p></body></html>";

/// The operator's page is published as it is and never overwritten: through a fail-over, a
/// fail-back and the reconcile ticks in between.
#[tokio::test]
async fn the_operators_page_survives_fail_overs_and_reconciles() {
    let emulator = Emulator::shared();
    let s = setup("static-operator", &[]).await;
    s3_client(&s.config)
        .put_object()
        .bucket(&s.cluster.bucket)
        .key(MAINTENANCE_PAGE)
        .content_type("text/html")
        .body(ByteStream::from_static(OPERATORS_PAGE.as_bytes()))
        .send()
        .await
        .unwrap();
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    let down = handle_at(&health_alarm("ALARM"), "down".into(), t0(), &s.deps)
        .await
        .unwrap();
    assert_eq!(down.reason.map(|r| json!(r)), Some(json!("FailedOver")));
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
    for (n, secs) in [30, 60, 30 + HOLD_DOWN].into_iter().enumerate() {
        handle_at(
            &json!({"action": "reconcile"}),
            format!("tick-{n}"),
            after(secs),
            &s.deps,
        )
        .await
        .unwrap();
    }
    assert_eq!(s.answer(), "PRIMARY", "failed back");
    let visitors = visitors_get(&s).await;
    assert_eq!(
        (visitors.status, visitors.body.as_str()),
        (200, OPERATORS_PAGE)
    );
    let written = emulator
        .requests(&s.app)
        .into_iter()
        .filter(|r| r.action == "PutObject" && r.status == 200)
        .count();
    assert_eq!(written, 0, "the operator's page is never overwritten");
}

/// CloudFront mode: the bucket is private (no public statement, its website endpoint refuses
/// visitors), the distribution reads it through origin access control, and during an outage
/// the site's own name answers 503 with the page and Retry-After, for every path.
#[tokio::test]
async fn behind_cloudfront_the_outage_is_a_503_page_with_retry_after_from_a_private_bucket() {
    let emulator = Emulator::shared();
    let seeded = setup("static-cloudfront", &[]).await;
    let distribution =
        emulator.static_distribution(&seeded.cluster.bucket, &seeded.cluster.record_name);
    let domain = distribution["domain_name"].as_str().unwrap().to_owned();
    let s = setup_with(&seeded, &domain);

    // The deploy: the bucket made private (Custom::StaticSiteBucket), the stack's bucket policy
    // for the distribution, the records' SECONDARY aliased to the distribution.
    let mut bucket = records_request(&seeded, "Create", "cf-bucket");
    bucket["LogicalResourceId"] = json!("StaticSiteBucket");
    bucket["ResourceType"] = json!("Custom::StaticSiteBucket");
    bucket["ResourceProperties"] = json!({"BucketName": seeded.cluster.bucket});
    failover::handle(&bucket, &at("cf-bucket", t0()), &s)
        .await
        .unwrap();
    assert_eq!(emulator.cfn_responses("cf-bucket")[0]["Status"], "SUCCESS");
    let s3 = s3_client(&seeded.config);
    let oac_policy = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "TheDistributionReadsThePage", "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{}/*", seeded.cluster.bucket),
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution["arn"]}}}]});
    s3.put_bucket_policy()
        .bucket(&seeded.cluster.bucket)
        .policy(oac_policy.to_string())
        .send()
        .await
        .unwrap();
    let mut records = records_request(&seeded, "Update", "cf-records");
    records["ResourceProperties"]["StaticSiteDomain"] = json!(domain);
    records["ResourceProperties"]["StaticSiteHostedZoneId"] = json!("Z2FDTNDATAQYW2");
    failover::handle(&records, &at("cf-records", t0()), &s)
        .await
        .unwrap();
    assert_eq!(emulator.cfn_responses("cf-records")[0]["Status"], "SUCCESS");
    let mut page = halfhour_tests::emulator::event("failover/deploy.json");
    page["ResponseURL"] = json!(format!(
        "{}/_halfhour/cfn-response/cf-page",
        emulator.endpoint
    ));
    failover::handle(&page, &at("cf-page", t0()), &s)
        .await
        .unwrap();
    let published = emulator.cfn_responses("cf-page");
    assert_eq!(published[0]["Status"], "SUCCESS", "{:?}", published[0]);

    let policy = s3
        .get_bucket_policy()
        .bucket(&seeded.cluster.bucket)
        .send()
        .await
        .unwrap();
    assert!(
        !policy.policy().unwrap().contains("\"Principal\":\"*\""),
        "no public statement: {:?}",
        policy.policy()
    );
    let block = s3
        .get_public_access_block()
        .bucket(&seeded.cluster.bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (block.block_public_policy(), block.restrict_public_buckets()),
        (Some(true), Some(true))
    );
    let web = halfhour::aws::web::HttpsWeb::default();
    let direct = web
        .get(&emulator.site_url(&seeded.cluster.website_host()))
        .await
        .unwrap();
    assert_ne!(direct.status, 200, "the bucket serves no website");

    // The site dies: Route53 fails over, visitors of the site's own name get the page, 503.
    let lb = seeded.cluster.load_balancer_dns.clone();
    emulator.set_endpoint(&lb, 443, HEALTH_PATH, 502, "<html>502 Bad Gateway</html>");
    assert_eq!(seeded.answer(), "SECONDARY");
    let down = handle_at(&health_alarm("ALARM"), "cf-down".into(), t0(), &s)
        .await
        .unwrap();
    assert_eq!(down.reason.map(|r| json!(r)), Some(json!("FailedOver")));
    for path in ["", "wp-admin/", "2026/12/01/a-post/"] {
        let visitors = web
            .get(&format!(
                "{}{path}",
                emulator.site_url(&seeded.cluster.record_name)
            ))
            .await
            .unwrap();
        assert_eq!(visitors.status, 503, "/{path}");
        assert_eq!(visitors.retry_after.as_deref(), Some("120"), "/{path}");
        assert!(visitors.body.contains("We'll be right back."), "/{path}");
    }
}

/// The failover function's deps for CloudFront mode: the same cluster, the static side read
/// through the distribution.
fn setup_with(seeded: &halfhour_tests::loops::failover::Setup, domain: &str) -> failover::Deps {
    let mut vars = seeded.vars.clone();
    vars.insert("HALFHOUR_STATIC_SITE_MODE".into(), "cloudfront".into());
    vars.insert(
        "HALFHOUR_STATIC_SITE_URL".into(),
        Emulator::shared().site_url(domain),
    );
    let config = failover::FailoverConfig::from_lookup(|name| vars.get(name).cloned()).unwrap();
    failover::Deps::from_sdk(config, &seeded.function_config)
}

/// The first-deploy failure S3's authorisation makes when the role lacks `s3:ListBucket`:
/// HeadBucket answers 403 (as for another account's bucket), so the deploy's StaticSiteBucket
/// fails and nothing is changed — reproduced by the emulator's IAM alone: the same request with
/// the template's whole role takes the cluster's own bucket.
#[tokio::test]
async fn without_s3_list_bucket_the_static_site_bucket_looks_like_another_accounts() {
    let emulator = Emulator::shared();
    let s = setup("static-no-list", &[]).await;
    let request = |key: &str| {
        let mut request = records_request(&s, "Create", key);
        request["LogicalResourceId"] = json!("StaticSiteBucket");
        request["ResourceType"] = json!("Custom::StaticSiteBucket");
        request["ResourceProperties"] = json!({"BucketName": s.cluster.bucket});
        request
    };
    let held = emulator.bind_role(&s.app, "failover", &s.cluster.name, &["s3:ListBucket"]);
    assert!(!held.to_string().contains("s3:ListBucket"), "{held}");
    let _ = failover::handle(&request("no-list"), &at("no-list", t0()), &s.deps).await;
    let refused = emulator.cfn_responses("no-list").pop().unwrap();
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    let calls = emulator.requests(&s.app);
    let head = calls.iter().find(|r| r.action == "HeadBucket").unwrap();
    assert_eq!(head.status, 403, "HeadBucket is denied: {head:?}");
    assert!(
        calls.iter().all(|r| !r.mutating),
        "nothing changed: {calls:?}"
    );

    emulator.bind_role(&s.app, "failover", &s.cluster.name, &[]);
    let _ = failover::handle(&request("listed"), &at("listed", t0()), &s.deps).await;
    let taken = emulator.cfn_responses("listed").pop().unwrap();
    assert_eq!(taken["Status"], "SUCCESS", "{taken}");
}

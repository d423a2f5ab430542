//! The failover and database loops against the emulator: the gate, Route53's failover answer,
//! the static page, DB windows, pin/unpin, a cold start mid-hold, bad input and dry run.

use std::time::Duration;

use db_events::handle as handle_db;
use failover::handle;
use halfhour::{Error, ErrorKind};
use halfhour_tests::Emulator;
use halfhour_tests::fixture::{
    HEALTH_PATH, MAINTENANCE_PAGE, SITE_HEALTHY, reported_healthy, s3_client,
};
use halfhour_tests::loops::failover::{
    HOLD_DOWN, actions, after, at, health_alarm, rds_event, setup, t0, visitors_get,
};
use serde_json::{Value, json};

#[tokio::test]
async fn fails_over_natively_holds_static_through_the_hold_down_then_fails_back() {
    let emulator = Emulator::shared();
    let s = setup("fo-main", &[]).await;
    assert_eq!(s.answer(), "PRIMARY");
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    assert_eq!(
        s.answer(),
        "SECONDARY",
        "Route53 fails over through the gate without any Lambda"
    );

    let down = handle(&health_alarm("ALARM"), &at("a1", t0()), &s.deps)
        .await
        .unwrap();
    assert_eq!(down.reason.map(|r| json!(r)), Some(json!("FailedOver")));
    assert_eq!(down.gate, "HoldStatic");
    // The static page went up (and was read back) before the gate moved.
    let mutations = actions(&s.app);
    let first_put = mutations
        .iter()
        .position(|a| a == "PutObject")
        .expect("page published");
    let gate_moved = mutations
        .iter()
        .position(|a| a == "UpdateHealthCheck")
        .expect("gate moved");
    assert!(first_put < gate_moved, "{mutations:?}");
    let page = s3_client(&s.config)
        .get_object()
        .bucket(&s.cluster.bucket)
        .key(MAINTENANCE_PAGE)
        .send()
        .await
        .unwrap();
    assert_eq!(page.cache_control(), Some("public, max-age=60"));
    let html = String::from_utf8(page.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(html.contains(&s.cluster.record_name) && html.contains("We'll be right back."));
    assert!(
        !html.contains("health check"),
        "the public page never shows the internal reason"
    );
    let visitors = visitors_get(&s).await;
    assert_eq!((visitors.status, visitors.body), (200, html));

    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
    assert_eq!(
        s.answer(),
        "SECONDARY",
        "the gate holds static while the site recovers"
    );
    let early = handle(
        &json!({"action": "reconcile"}),
        &at("t1", after(30)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        early.reason.map(|r| json!(r)),
        Some(json!({"HoldDown": {"remaining_s": HOLD_DOWN}}))
    );
    let still = handle(
        &json!({"action": "reconcile"}),
        &at("t2", after(60)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        still.reason.map(|r| json!(r)),
        Some(json!({"HoldDown": {"remaining_s": 30}}))
    );
    assert_eq!(s.answer(), "SECONDARY");
    let back = handle(
        &json!({"action": "reconcile"}),
        &at("t3", after(30 + HOLD_DOWN)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(back.reason.map(|r| json!(r)), Some(json!("FailedBack")));
    assert_eq!(s.answer(), "PRIMARY");
    let published = halfhour_tests::notices::published(&s.app);
    assert_eq!(published.len(), 2, "fail-over and fail-back are notified");
    assert!(published[0].subject.contains("fail over"), "{published:?}");
    assert!(published[0].email.contains("Next:"), "{published:?}");
    assert_eq!(
        published[1].chat["metadata"]["eventType"],
        "halfhour.failover.fail_back"
    );
}

/// An HTTPS-only site: its load balancer redirects :80 to HTTPS whatever the application does,
/// so only a check on :443 that looks for the healthy string sees the site die.
#[tokio::test]
async fn a_redirecting_load_balancer_makes_the_site_check_unhealthy_and_dns_fails_over() {
    let emulator = Emulator::shared();
    let s = setup("fo-redirect", &[]).await;
    let lb = s.cluster.load_balancer_dns.clone();
    emulator.set_endpoint(&lb, 80, HEALTH_PATH, 301, "");
    emulator.set_endpoint(&lb, 443, HEALTH_PATH, 200, SITE_HEALTHY);
    assert_eq!(s.answer(), "PRIMARY");

    // The application redirects its health path to the canonical host: not the site being well.
    emulator.set_endpoint(
        &lb,
        443,
        HEALTH_PATH,
        301,
        "<a href=\"https://www.example.com/health\">Moved Permanently</a>",
    );
    assert_eq!(
        s.answer(),
        "SECONDARY",
        "Route53 fails over on the redirect"
    );
    let down = handle(&health_alarm("ALARM"), &at("r1", t0()), &s.deps)
        .await
        .unwrap();
    assert_eq!(down.reason.map(|r| json!(r)), Some(json!("FailedOver")));
    assert_eq!(down.gate, "HoldStatic");

    // An ALB whose targets are all gone answers 503 with its own page; the site check the
    // template created before (HTTP on :80, any 2xx/3xx) would have called that healthy.
    emulator.set_endpoint(
        &lb,
        443,
        HEALTH_PATH,
        503,
        "<html><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>",
    );
    let r53 = aws_sdk_route53::Client::new(&s.config);
    let check = |id: String| {
        let config = s.config.clone();
        async move { reported_healthy(&config, &id).await.unwrap() }
    };
    assert!(!check(s.cluster.site_health_check_id.clone()).await);
    let old_shape = halfhour_tests::fixture::endpoint_check(
        &r53,
        "fo-redirect-old-shape",
        aws_sdk_route53::types::HealthCheckType::Http,
        &lb,
        80,
    )
    .await;
    assert!(check(old_shape).await, "the redirect on :80 hid the outage");

    // Well again: Route53's own check follows, the gate holds static through the hold-down.
    emulator.set_endpoint(&lb, 443, HEALTH_PATH, 200, SITE_HEALTHY);
    assert!(check(s.cluster.site_health_check_id.clone()).await);
    assert_eq!(s.answer(), "SECONDARY");
    let back = handle(
        &json!({"action": "reconcile"}),
        &at("r2", after(30 + HOLD_DOWN)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        back.reason.map(|r| json!(r)),
        Some(json!({"HoldDown": {"remaining_s": HOLD_DOWN}}))
    );
}

#[tokio::test]
async fn a_db_failover_window_keeps_dns_on_primary_through_the_outage() {
    let emulator = Emulator::shared();
    let s = setup("fo-db", &[]).await;
    let db = s.db_deps();
    let opened = handle_db(
        &rds_event(
            &s.cluster.db_instance_id,
            "RDS-EVENT-0013",
            "Multi-AZ instance failover started.",
        ),
        &at("d1", t0()),
        &db,
    )
    .await
    .unwrap();
    assert_eq!(opened.action, "open_window");
    let held = handle(
        &json!({"action": "reconcile"}),
        &at("t1", after(5)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(held.reason.map(|r| json!(r)), Some(json!("DbWindowGrace")));
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    assert_eq!(s.answer(), "PRIMARY", "the DB outage does not move DNS");
    let during = handle(&health_alarm("ALARM"), &at("a1", after(60)), &s.deps)
        .await
        .unwrap();
    assert_eq!(
        during.reason.map(|r| json!(r)),
        Some(json!("DbGraceHolding"))
    );
    assert_eq!(s.answer(), "PRIMARY");
    // The failover completes and the site is back: the window closes after its grace.
    handle_db(
        &rds_event(
            &s.cluster.db_instance_id,
            "RDS-EVENT-0015",
            "Multi-AZ instance failover completed.",
        ),
        &at("d2", after(90)),
        &db,
    )
    .await
    .unwrap();
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
    let closed = handle(
        &json!({"action": "reconcile"}),
        &at("t2", after(90 + 61)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(closed.reason.map(|r| json!(r)), Some(json!("GraceOver")));
    assert_eq!(closed.gate, "Follow");
    assert_eq!(s.answer(), "PRIMARY");
}

/// The stack's `Custom::StaticPage` is answered after the page is published: CloudFormation
/// creates the failover records (they depend on it) only once a fresh, empty bucket holds the
/// page Route53's first fail-over would send visitors to.
#[tokio::test]
async fn the_deploy_publishes_the_static_page_before_the_records_exist() {
    let emulator = Emulator::shared();
    let s = setup("fo-deploy", &[]).await;
    let s3 = halfhour_tests::fixture::s3_client(&s.config);
    let page = || {
        s3.get_object()
            .bucket(&s.cluster.bucket)
            .key(MAINTENANCE_PAGE)
            .send()
    };
    assert!(page().await.is_err(), "the bucket starts empty");
    let mut request = halfhour_tests::emulator::event("failover/deploy.json");
    request["ResponseURL"] = json!(format!(
        "{}/_halfhour/cfn-response/fo-deploy",
        emulator.endpoint
    ));
    request["ResourceProperties"]["Bucket"] = json!(s.cluster.bucket);
    handle(&request, &at("deploy", t0()), &s.deps)
        .await
        .unwrap();
    let answers = emulator.cfn_responses("fo-deploy");
    assert_eq!(answers.len(), 1, "CloudFormation got one answer");
    assert_eq!(answers[0]["Status"], "SUCCESS", "{:?}", answers[0]);
    assert_eq!(answers[0]["LogicalResourceId"], "StaticPage");
    let body = page()
        .await
        .expect("the page is published")
        .body
        .collect()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body.into_bytes()).contains("right back"));
    let visitors = visitors_get(&s).await;
    assert_eq!(visitors.status, 200, "the website endpoint serves it");
    assert!(visitors.body.contains("right back"));

    request["RequestType"] = json!("Delete");
    request["PhysicalResourceId"] = json!(s.cluster.bucket);
    handle(&request, &at("delete", t0()), &s.deps)
        .await
        .unwrap();
    assert_eq!(emulator.cfn_responses("fo-deploy")[1]["Status"], "SUCCESS");
    assert!(
        page().await.is_ok(),
        "sam delete leaves the retained bucket's page"
    );
}

/// A static side visitors cannot read (the bucket's public read taken away) is a clear error
/// naming what visitors got, never a fail-over to a page nobody can see.
#[tokio::test]
async fn a_static_side_visitors_cannot_read_is_a_clear_error() {
    let s = setup("fo-unreadable", &[]).await;
    s3_client(&s.config)
        .delete_bucket_policy()
        .bucket(&s.cluster.bucket)
        .send()
        .await
        .unwrap();
    let err = handle(&json!({"action": "reconcile"}), &at("t", t0()), &s.deps)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable);
    let message = err.to_string();
    assert!(
        message.contains("get HTTP 403") && message.contains("public S3 website"),
        "{message}"
    );
}

/// The RDS user guide's own failover event: `SourceIdentifier` as `rds:<name>`, here without an
/// `EventID` (recognised by its category and message).
fn documented_rds_event(db: &str, category: &str, message: &str) -> Value {
    let mut event = rds_event(db, "", message);
    let detail = event["detail"].as_object_mut().expect("detail");
    detail.remove("EventID");
    detail.insert("SourceIdentifier".into(), json!(format!("rds:{db}")));
    detail.insert("EventCategories".into(), json!([category]));
    event["id"] = json!(format!("doc-{category}-{db}-{}", message.len()));
    event
}

#[tokio::test]
async fn a_db_failover_in_awss_documented_shape_holds_dns_and_a_stopped_db_is_reported() {
    let emulator = Emulator::shared();
    let s = setup("fo-db-doc", &[]).await;
    let db = s.db_deps();
    let opened = handle_db(
        &documented_rds_event(
            &s.cluster.db_instance_id,
            "failover",
            "Multi-AZ instance failover started.",
        ),
        &at("d1", t0()),
        &db,
    )
    .await
    .unwrap();
    assert_eq!(opened.action, "open_window");
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    let during = handle(&health_alarm("ALARM"), &at("a1", after(60)), &s.deps)
        .await
        .unwrap();
    assert!(during.db_window, "the window is open: {during:?}");
    assert_eq!(s.answer(), "PRIMARY", "the DB failover does not move DNS");

    let stopped = handle_db(
        &documented_rds_event(
            &s.cluster.db_instance_id,
            "notification",
            "DB instance stopped",
        ),
        &at("d2", after(90)),
        &db,
    )
    .await
    .unwrap();
    assert_eq!(stopped.action, "report_outage");
    let published = halfhour_tests::notices::published(&s.db_events_app);
    assert_eq!(published.len(), 1, "the operator hears of the outage");
    assert!(published[0].email.contains("is down"));
}

#[tokio::test]
async fn pin_and_unpin_and_status() {
    let s = setup("fo-pin", &[]).await;
    let pinned = handle(
        &json!({"action": "pin-static", "cluster": s.cluster.name}),
        &at("p", t0()),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(pinned.reason.map(|r| json!(r)), Some(json!("Pinned")));
    assert_eq!(
        s.answer(),
        "SECONDARY",
        "pinned to static although the site is healthy"
    );
    let later = handle(
        &json!({"action": "reconcile"}),
        &at("t", after(3600)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        later.reason.map(|r| json!(r)),
        Some(json!("Pinned")),
        "a pin overrides everything"
    );
    let before = actions(&s.app).len();
    let status = handle(&json!({"action": "status"}), &at("s", after(3601)), &s.deps)
        .await
        .unwrap();
    assert_eq!(
        (status.serving.as_str(), status.gate.as_str()),
        ("SECONDARY", "HoldStatic")
    );
    assert_eq!(actions(&s.app).len(), before, "status changes nothing");
    let unpinned = handle(&json!({"action": "unpin"}), &at("u", after(3700)), &s.deps)
        .await
        .unwrap();
    assert!(
        unpinned
            .reason
            .map(|r| json!(r))
            .unwrap()
            .get("HoldDown")
            .is_some(),
        "unpin goes through a hold-down"
    );
    handle(
        &json!({"action": "reconcile"}),
        &at("t2", after(3701)),
        &s.deps,
    )
    .await
    .unwrap();
    let back = handle(
        &json!({"action": "reconcile"}),
        &at("t3", after(3701 + HOLD_DOWN)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(back.reason.map(|r| json!(r)), Some(json!("FailedBack")));
    assert_eq!(s.answer(), "PRIMARY");
}

#[tokio::test]
async fn a_cold_start_mid_hold_resumes_the_hold_from_the_state_table() {
    let emulator = Emulator::shared();
    let s = setup("fo-cold", &[]).await;
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    handle(&health_alarm("ALARM"), &at("a1", t0()), &s.deps)
        .await
        .unwrap();
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
    handle(
        &json!({"action": "reconcile"}),
        &at("t1", after(10)),
        &s.deps,
    )
    .await
    .unwrap();
    let cold = s.cold_start();
    let resumed = handle(&json!({"action": "reconcile"}), &at("t2", after(40)), &cold)
        .await
        .unwrap();
    assert_eq!(
        resumed.reason.map(|r| json!(r)),
        Some(json!({"HoldDown": {"remaining_s": 30}})),
        "the healthy streak survived the cold start"
    );
    assert_eq!(s.answer(), "SECONDARY");
    let back = handle(&json!({"action": "reconcile"}), &at("t3", after(70)), &cold)
        .await
        .unwrap();
    assert_eq!(back.reason.map(|r| json!(r)), Some(json!("FailedBack")));
}

#[tokio::test]
async fn bad_input_is_refused_and_dry_run_writes_nothing() {
    let emulator = Emulator::shared();
    let s = setup("fo-bad", &[]).await;
    let cases = [
        json!({"action": "pin-static", "cluster": "someone-else"}),
        json!({"action": "pin-sideways"}),
        json!({"action": "unpin", "force": true}),
        json!({"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "x"}}),
        json!("garbage"),
    ];
    for (i, payload) in cases.iter().enumerate() {
        let err: Error = handle(payload, &at(&format!("b{i}"), t0()), &s.deps)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadEvent, "case {i}: {err}");
    }
    let db = s.db_deps();
    let foreign = handle_db(
        &rds_event("someone-elses-db", "RDS-EVENT-0013", "failover started"),
        &at("d", t0()),
        &db,
    )
    .await;
    assert_eq!(foreign.unwrap_err().kind(), ErrorKind::BadEvent);
    for app in [&s.app, &s.db_events_app] {
        assert!(
            actions(app).is_empty(),
            "zero mutating calls: {:?}",
            actions(app)
        );
    }

    let dry = setup("fo-dry", &[("DRY_RUN", "true")]).await;
    emulator.set_health_check_status(&dry.cluster.site_health_check_id, false);
    let decided = handle(&health_alarm("ALARM"), &at("d1", t0()), &dry.deps)
        .await
        .unwrap();
    assert_eq!(decided.reason.map(|r| json!(r)), Some(json!("FailedOver")));
    assert!(decided.dry_run);
    assert!(
        actions(&dry.app).is_empty(),
        "dry run mutated: {:?}",
        actions(&dry.app)
    );
}

#[tokio::test]
async fn database_drift_is_reported_once() {
    let s = setup("db-drift", &[]).await;
    aws_sdk_rds::Client::new(&s.config)
        .modify_db_instance()
        .db_instance_identifier(&s.cluster.db_instance_id)
        .multi_az(false)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let db = s.db_deps();
    let first = db_events::reconcile(&at("r1", t0()), &db).await.unwrap();
    assert_eq!(first.drift, vec![db_events::Drift::MultiAzOff]);
    db_events::reconcile(&at("r2", after(60)), &db)
        .await
        .unwrap();
    let published = halfhour_tests::notices::published(&s.db_events_app);
    assert_eq!(
        published.len(),
        1,
        "drift is reported once, not every minute"
    );
    assert!(published[0].email.contains("MultiAzOff"));
}

#[tokio::test]
async fn the_static_page_is_there_before_route53_ever_fails_over() {
    let s = setup("fo-page", &[]).await;
    let tick = handle(&json!({"action": "reconcile"}), &at("t", t0()), &s.deps)
        .await
        .unwrap();
    assert_eq!(tick.reason.map(|r| json!(r)), Some(json!("Healthy")));
    let html = s3_client(&s.config)
        .get_object()
        .bucket(&s.cluster.bucket)
        .key(MAINTENANCE_PAGE)
        .send()
        .await
        .unwrap();
    let html = String::from_utf8(html.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(
        html.contains("We'll be right back."),
        "published on the first tick, while the site is healthy"
    );
    let puts = || {
        Emulator::shared()
            .requests(&s.app)
            .into_iter()
            .filter(|r| r.action == "PutObject")
            .count()
    };
    let before = puts();
    handle(
        &json!({"action": "reconcile"}),
        &at("t2", after(60)),
        &s.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        puts(),
        before,
        "a page that is there is not published again"
    );
}

/// The requests `app` made after `mark`, by action: all of them, and the mutating ones.
fn actions_after(app: &str, mark: u64) -> (Vec<String>, Vec<String>) {
    let requests = Emulator::shared().requests_after(app, mark);
    let all = requests.iter().map(|r| r.action.clone()).collect();
    let mutating = requests
        .iter()
        .filter(|r| r.mutating)
        .map(|r| r.action.clone())
        .collect();
    (all, mutating)
}

/// A tick that changes nothing reads what it decides from and writes nothing, so it needs no
/// lease: it is answered while another loop holds one. A tick that must act still waits for it.
#[tokio::test]
async fn a_tick_that_changes_nothing_takes_no_lease_and_writes_nothing() {
    let s = setup("fo-held", &[]).await;
    let tick = json!({"action": "reconcile"});
    handle(&tick, &at("t1", t0()), &s.deps).await.unwrap();
    let cluster = halfhour::domain::ClusterName::new(&s.cluster.name).unwrap();
    s.deps
        .store
        .acquire_lease(
            &cluster,
            "gold-image:bake",
            after(30),
            Duration::from_secs(600),
        )
        .await
        .unwrap();

    let before = Emulator::shared().request_mark(&s.app);
    let held = handle(&tick, &at("t2", after(60)), &s.deps).await.unwrap();
    assert_eq!(held.reason.map(|r| json!(r)), Some(json!("Healthy")));
    let (all, mutating) = actions_after(&s.app, before);
    assert_eq!(
        all,
        [
            "GetItem",
            "GetHealthCheckStatus",
            "GetItem",
            "GetHealthCheck"
        ],
        "state, site health, flags and the gate (the page is read as visitors get it, not from S3): what the decision needs, nothing more"
    );
    assert!(mutating.is_empty(), "{mutating:?}");

    Emulator::shared().set_health_check_status(&s.cluster.site_health_check_id, false);
    let before = Emulator::shared().request_mark(&s.app);
    let refused = handle(&tick, &at("t3", after(90)), &s.deps)
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::Conflict,
        "a fail-over waits for the lease"
    );
    let (_, mutating) = actions_after(&s.app, before);
    assert_eq!(mutating, ["PutItem"], "only the refused lease claim");
}

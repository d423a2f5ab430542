//! The failover loop's handler in process: the shipped events against a fake cluster (Route53's
//! checks and records, the static bucket, what its visitors get) and the state table in memory,
//! in milliseconds. The emulator suites prove the same paths through the real SDK and what DNS
//! answers.

use std::sync::Arc;
use std::time::Duration;

use halfhour::ErrorKind;
use halfhour::domain::dns::Gate;
use halfhour::domain::{Millis, parse_timestamp};
use halfhour::testing::{FakeCluster, each_is_bad_input, event_fixture, lookup_over, loop_core};
use serde_json::{Value, json};

use crate::{Deps, FailoverConfig, Invocation, handle};

const SITE_CHECK: &str = "site-check";
const GATE: &str = "gate-check";
const RECORD: &str = "www.prod.example.com";
const STATIC_URL: &str = "http://www.prod.example.com.s3-website-us-east-1.amazonaws.com/";
const PAGE: &str = "maintenance.html";
const BASE: &[(&str, &str)] = &[
    ("HALFHOUR_TABLE", "state"),
    ("HALFHOUR_CLUSTER", "prod"),
    ("HALFHOUR_HOSTED_ZONE_ID", "Z1"),
    ("HALFHOUR_RECORD_NAME", RECORD),
    ("HALFHOUR_SITE_HEALTH_CHECK_ID", SITE_CHECK),
    ("HALFHOUR_GATE_HEALTH_CHECK_ID", GATE),
    ("HALFHOUR_STATIC_SITE_URL", STATIC_URL),
    ("HALFHOUR_HOLD_DOWN_SECONDS", "60"),
];

fn deps(cluster: &Arc<FakeCluster>, extra: &[(&str, &str)]) -> Deps {
    Deps {
        core: loop_core(
            FailoverConfig::from_lookup(lookup_over(BASE, extra)).unwrap(),
            cluster,
        ),
        dns: cluster.clone(),
        site: cluster.clone(),
        web: cluster.clone(),
        replies: cluster.clone(),
    }
}

/// The site as the deploy leaves it: its check healthy, the gate following it, the static
/// bucket (named like the record) served as a website, no page in it yet.
fn cluster() -> Arc<FakeCluster> {
    let fake = Arc::new(FakeCluster::default());
    fake.set_site_healthy(SITE_CHECK, true);
    fake.add_gate(GATE, Gate::Follow.threshold());
    fake.add_zone("Z1", vec![]);
    fake.add_bucket(RECORD, "prod");
    fake.serve_static(STATIC_URL, RECORD, PAGE, 200);
    fake
}

/// The shipped site-health alarm and a few seconds after it fired.
fn alarm() -> (Value, Millis) {
    let event = event_fixture(
        env!("CARGO_MANIFEST_DIR"),
        "failover/site-health-alarm.json",
    );
    let time = parse_timestamp(event["time"].as_str().unwrap()).unwrap();
    (event, time.plus(Duration::from_secs(5)))
}

fn at(request_id: &str, now: Millis) -> Invocation {
    Invocation::new(request_id, now, Duration::from_secs(30))
}

fn tick() -> Value {
    json!({"action": "reconcile"})
}

#[tokio::test]
async fn a_site_down_publishes_the_page_then_holds_static_until_the_hold_down_is_over() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    let (event, now) = alarm();
    fake.set_site_healthy(SITE_CHECK, false);
    let down = handle(&event, &at("a1", now), &deps).await.unwrap();
    assert_eq!(down.gate, "HoldStatic", "{down:?}");
    assert_eq!(down.serving, "SECONDARY");
    assert_eq!(fake.gate(GATE), Gate::HoldStatic.threshold());
    let page = fake.object(RECORD, PAGE).expect("the page went up");
    assert!(
        page.contains(RECORD) && !page.contains("health check"),
        "{page}"
    );
    let effects = fake.effects();
    let put = effects.iter().position(|e| e.starts_with("PutObject"));
    let gate = effects
        .iter()
        .position(|e| e.starts_with("UpdateHealthCheck"));
    assert!(put < gate, "the page is up before DNS moves: {effects:?}");

    fake.set_site_healthy(SITE_CHECK, true);
    let early = handle(&tick(), &at("t1", now.plus(Duration::from_secs(30))), &deps)
        .await
        .unwrap();
    assert_eq!(
        early.serving, "SECONDARY",
        "held through the hold-down: {early:?}"
    );
    // The hold-down counts from when the site was first seen healthy again (t1).
    let back = handle(
        &tick(),
        &at("t2", now.plus(Duration::from_secs(30 + 60))),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(back.gate, "Follow", "{back:?}");
    assert_eq!(back.serving, "PRIMARY");
    assert_eq!(fake.gate(GATE), Gate::Follow.threshold());
}

#[tokio::test]
async fn a_healthy_tick_changes_nothing() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    // Published once at deploy: the page is there before Route53 ever fails over.
    handle(&json!({"action": "publish"}), &at("p", Millis(0)), &deps)
        .await
        .unwrap();
    let published = fake.effects();
    let report = handle(&tick(), &at("t1", Millis(1_000)), &deps)
        .await
        .unwrap();
    assert_eq!(
        (report.gate.as_str(), report.serving.as_str()),
        ("Follow", "PRIMARY")
    );
    assert_eq!(fake.effects(), published, "nothing more was changed");
}

#[tokio::test]
async fn a_pin_holds_static_whatever_the_site_does_and_unpin_gives_dns_back_after_the_hold_down() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    let pinned = handle(
        &json!({"action": "pin-static"}),
        &at("p1", Millis(0)),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(pinned.serving, "SECONDARY", "{pinned:?}");
    assert!(fake.object(RECORD, PAGE).is_some(), "the page visitors get");
    let held = handle(&tick(), &at("t1", Millis(7_200_000)), &deps)
        .await
        .unwrap();
    assert_eq!(
        held.serving, "SECONDARY",
        "the site is healthy, the pin holds"
    );
    let unpinned = handle(
        &json!({"action": "unpin"}),
        &at("u1", Millis(7_300_000)),
        &deps,
    )
    .await
    .unwrap();
    assert_eq!(
        unpinned.serving, "SECONDARY",
        "unpinned, DNS follows the site after the hold-down: {unpinned:?}"
    );
    handle(&tick(), &at("t2", Millis(7_301_000)), &deps)
        .await
        .unwrap();
    let back = handle(&tick(), &at("t3", Millis(7_361_000)), &deps)
        .await
        .unwrap();
    assert_eq!(back.serving, "PRIMARY", "{back:?}");
    assert_eq!(fake.gate(GATE), Gate::Follow.threshold());
}

#[tokio::test]
async fn observe_mode_decides_and_writes_nothing() {
    let fake = cluster();
    let deps = deps(&fake, &[("HALFHOUR_DRY_RUN", "true")]);
    let (event, now) = alarm();
    fake.set_site_healthy(SITE_CHECK, false);
    let report = handle(&event, &at("a1", now), &deps).await.unwrap();
    assert!(report.dry_run);
    assert_eq!(fake.gate(GATE), Gate::Follow.threshold());
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
}

#[tokio::test]
async fn visitors_who_cannot_get_the_page_keep_dns_where_it_is() {
    let fake = cluster();
    // The static side answers nothing visitors can read (not a public website).
    fake.serve_static("http://elsewhere/", RECORD, PAGE, 200);
    let deps = deps(&fake, &[]);
    let (event, now) = alarm();
    fake.set_site_healthy(SITE_CHECK, false);
    let err = handle(&event, &at("a1", now), &deps).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    assert_eq!(
        fake.gate(GATE),
        Gate::Follow.threshold(),
        "the gate did not move towards a page visitors cannot get"
    );
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_zero_effects() {
    let fake = cluster();
    let deps = deps(&fake, &[]);
    let (event, now) = alarm();
    let mut mangled = event.clone();
    mangled["detail"]["state"]["value"] = json!("SIDEWAYS");
    each_is_bad_input(
        [
            json!([]),
            json!({}),
            json!({"action": "bake"}),
            json!({"action": "pin-static", "cluster": "staging"}),
            mangled,
        ],
        async |payload| handle(payload, &at("bad", now), &deps).await,
    )
    .await;
    assert!(fake.effects().is_empty(), "{:?}", fake.effects());
}

//! The canary: a new gold image serves on one instance for its bake time before it replaces the
//! rest of the group. An alarm in ALARM, a DNS fail-over or broken launches during the canary roll
//! it back: the previous image serves on every instance, capacity never drops below the floor,
//! and the bad image is never rolled out again.

use std::collections::HashMap;
use std::sync::Arc;

use gold_image::plan::Step;
use gold_image::{Deps, handle};
use halfhour::clock;
use halfhour::domain::{ClusterName, Flag};
use halfhour_tests::Emulator;
use serde_json::{Value, json};

use halfhour_tests::loops::gold_image::{
    Setup, actions, ami_event, bake_request, bake_to_rollout, default_image, gold_config,
    invocation, serving, setup, three_in_service, tick_until_finished, wire,
};

/// The canary's bake time in the tests: the emulator clock is moved past it.
const BAKE_SECONDS: u64 = 15;

/// A cluster whose bakes roll out with a canary, and the alarm the refresh watches.
async fn canary_setup(app: &str) -> (Setup, String) {
    let alarm = format!("{app}-5xx");
    let bake = BAKE_SECONDS.to_string();
    let s = setup(
        app,
        false,
        &[
            ("HALFHOUR_CANARY_BAKE_SECONDS", &bake),
            ("HALFHOUR_REFRESH_ALARMS", &alarm),
            // The shortest hold, so a test can outlast it.
            ("HALFHOUR_REFRESH_HOLD_SECONDS", "300"),
        ],
    )
    .await;
    halfhour_tests::fixture::put_refresh_alarm(&s.config, &alarm)
        .await
        .expect("alarm created");
    (s, alarm)
}

/// Gold-image deps for a cluster another suite seeded (with its hooks), three serving.
async fn gold_on(
    config: &aws_config::SdkConfig,
    cluster: &halfhour_tests::Cluster,
    topic: &str,
    app: &str,
) -> Setup {
    let bake = BAKE_SECONDS.to_string();
    let (function_config, app) = Emulator::shared()
        .function_sdk_config("gold-image", app, &cluster.name)
        .await;
    let config_vars = gold_config(
        cluster,
        &[
            ("HALFHOUR_CANARY_BAKE_SECONDS", &bake),
            ("HALFHOUR_NOTIFY_TOPIC_ARN", topic),
        ],
    );
    let s = Setup {
        config: config.clone(),
        cluster: cluster.clone(),
        deps: Arc::new(Deps::from_sdk(config_vars, &function_config)),
        app,
    };
    three_in_service(&s).await;
    s.cluster
        .continue_waiting(&s.config)
        .await
        .expect("hooks continued");
    s
}

/// How many InService instances run `image`, of how many serve.
async fn serving_image(s: &Setup, image: &str) -> (usize, usize) {
    let serving = s
        .cluster
        .instances_in(&s.config, "InService")
        .await
        .expect("instances");
    let images: Vec<String> = aws_sdk_ec2::Client::new(&s.config)
        .describe_instances()
        .set_instance_ids(Some(serving.clone()))
        .send()
        .await
        .expect("instances described")
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.image_id().map(str::to_owned))
        .collect();
    (images.iter().filter(|i| *i == image).count(), serving.len())
}

/// One reconcile tick, whatever waits on a hook let go on first: its steps.
async fn tick(s: &Setup, name: &str) -> Vec<Value> {
    s.cluster
        .continue_waiting(&s.config)
        .await
        .expect("hooks continued");
    let steps = handle(&json!({"action": "reconcile"}), &invocation(name), &s.deps)
        .await
        .expect("a tick")
        .steps;
    wire(&steps)
}

/// The phases a run of ticks watched, each once, in order.
fn phases(steps: &[Value]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for phase in steps
        .iter()
        .filter_map(|s| s["WatchRefresh"]["phase"].as_str())
    {
        if seen.last().map(String::as_str) != Some(phase) {
            seen.push(phase.to_owned());
        }
    }
    seen
}

/// Tick until the canary serves alone (its bake time): every step, the fewest serving.
async fn tick_to_canary_bake(s: &Setup, image: &str) -> (Vec<Value>, usize) {
    let mut steps = Vec::new();
    let mut fewest = serving(s).await;
    for round in 0..15 {
        steps.extend(tick(s, &format!("to-canary-{round}")).await);
        fewest = fewest.min(serving(s).await);
        if phases(&steps).last().map(String::as_str) == Some("CanaryBake") {
            assert_eq!(
                serving_image(s, image).await,
                (1, 3),
                "one canary serves the new image beside the old ones"
            );
            return (steps, fewest);
        }
    }
    panic!("the canary never served: {steps:?}");
}

fn bake_record(report_steps: &[Value]) -> Option<Value> {
    report_steps
        .iter()
        .find_map(|s| s.get("RecordOutcome").map(|r| r["outcome"].clone()))
}

async fn set_alarm(s: &Setup, name: &str, state: aws_sdk_cloudwatch::types::StateValue) {
    aws_sdk_cloudwatch::Client::new(&s.config)
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("the canary answers 503")
        .send()
        .await
        .expect("alarm state set");
}

fn published(app: &str) -> Vec<(String, String)> {
    halfhour_tests::notices::published(app)
        .into_iter()
        .map(|n| (n.subject, n.email))
        .collect()
}

#[tokio::test]
async fn a_good_image_passes_the_canary_and_completes() {
    let (s, alarm) = canary_setup("canary-good").await;
    let (image, rollout) = bake_to_rollout(&s).await;
    let start = &actions(&s.app, "StartInstanceRefresh")[0].params;
    assert_eq!(
        start["Preferences.CheckpointPercentages.member.1"],
        json!("33")
    );
    assert_eq!(
        start["Preferences.CheckpointPercentages.member.2"],
        json!("100")
    );
    assert_eq!(
        start["Preferences.CheckpointDelay"],
        json!(BAKE_SECONDS.to_string())
    );
    assert_eq!(
        start["Preferences.AlarmSpecification.Alarms.member.1"],
        json!(alarm)
    );
    let (mut steps, mut fewest) = tick_to_canary_bake(&s, &image).await;
    steps.splice(0..0, wire(&rollout.steps));

    // While the canary bakes: nothing more is replaced, and the scaler does not scale in.
    for round in 0..3 {
        steps.extend(tick(&s, &format!("baking-{round}")).await);
    }
    assert_eq!(serving_image(&s, &image).await, (1, 3));
    let cluster = ClusterName::new(&s.cluster.name).expect("cluster name");
    let flags = s.deps.store.read_flags(&cluster).await.expect("flags");
    assert!(
        flags.is_raised(Flag::Refreshing, clock::now())
            && flags.is_raised(Flag::Baking, clock::now()),
        "the bake and its refresh hold the cluster until the refresh is over"
    );
    let held = scale_in_decision(&s).await;
    assert!(held["Hold"]["reason"].is_string(), "scale-in held: {held}");
    let images_before = actions(&s.app, "CreateImage").len();
    let second = handle(
        &bake_request(&s.cluster),
        &invocation("second-bake"),
        &s.deps,
    )
    .await
    .expect_err("no second bake while the canary bakes");
    assert_eq!(second.kind(), halfhour::ErrorKind::Conflict, "{second}");
    assert_eq!(actions(&s.app, "CreateImage").len(), images_before);
    let reconciler =
        halfhour_tests::loops::reconciler::reconciler_for(&s.cluster, "canary-good", false).await;
    let status = reconciler::handle(
        &json!({"action": "status"}),
        &halfhour_tests::loops::reconciler::at("status", clock::now()),
        &reconciler,
    )
    .await
    .expect("the cluster status");
    let bake = &status["loops"]["gold-image"]["bake"];
    assert_eq!(bake["refresh_phase"], json!("CanaryBake"), "{status}");
    assert_eq!(bake["canary"]["percentage"], json!(33), "{status}");

    // A tick four minutes on (the hold of 300 + 15 s nearly spent): the watch renews it.
    let later = clock::now().plus(std::time::Duration::from_secs(240));
    let renewed = handle(
        &json!({"action": "reconcile"}),
        &gold_image::Invocation::new("later", later, std::time::Duration::from_secs(60)),
        &s.deps,
    )
    .await
    .expect("a later tick");
    assert!(
        renewed.steps.contains(&Step::RenewRefreshHold),
        "{:?}",
        renewed.steps
    );
    let flags = s.deps.store.read_flags(&cluster).await.expect("flags");
    assert!(
        flags.is_raised(
            Flag::Refreshing,
            later.plus(std::time::Duration::from_secs(200))
        ),
        "the cluster stays held while the refresh runs"
    );

    Emulator::shared().advance_clock(BAKE_SECONDS + 1);
    let (rest, fewest_after) = tick_until_finished(&s, "rolling").await;
    fewest = fewest.min(fewest_after);
    steps.extend(rest);
    assert_eq!(
        phases(&steps),
        ["Canary", "CanaryBake", "Rolling"],
        "{steps:?}"
    );
    assert_eq!(bake_record(&steps), Some(json!("Successful")));
    assert_eq!(
        serving_image(&s, &image).await,
        (3, 3),
        "every instance runs the new image"
    );
    assert!(fewest >= 3, "never fewer than three served ({fewest})");
    let told = published(&s.app);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].0.contains("rolled out"), "{told:?}");
    assert!(told[0].1.contains("the canary"), "{told:?}");
}

/// What the scaler decides for the low-CPU alarm now (this cluster's scaler, its own calls).
async fn scale_in_decision(s: &Setup) -> Value {
    let vars: HashMap<&str, String> = HashMap::from([
        ("HALFHOUR_TABLE", s.cluster.table.clone()),
        ("HALFHOUR_CLUSTER", s.cluster.name.clone()),
        ("HALFHOUR_ASG_NAME", s.cluster.asg_name.clone()),
        (
            "HALFHOUR_SCALING_ALARMS",
            format!("{0}-cpu-high=+2,{0}-cpu-low=-1", s.cluster.name),
        ),
    ]);
    let config = scaler::ScalerConfig::from_lookup(|name| vars.get(name).cloned())
        .expect("valid scaler config");
    let (function_config, _) = Emulator::shared()
        .function_sdk_config("scaler", "canary-good", &s.cluster.name)
        .await;
    let deps = scaler::Deps::from_sdk(config, &function_config);
    let now = clock::now();
    let desired = s
        .cluster
        .desired_capacity(&s.config)
        .await
        .expect("desired");
    let outcome = scaler::handle(
        &halfhour_tests::loops::scaling::alarm_event(
            &format!("{}-cpu-low", s.cluster.name),
            "ALARM",
            now,
        ),
        &halfhour_tests::loops::scaling::invocation("cpu-low", now),
        &deps,
    )
    .await
    .expect("the scaler decides");
    assert_eq!(
        s.cluster
            .desired_capacity(&s.config)
            .await
            .expect("desired"),
        desired,
        "capacity untouched"
    );
    json!(outcome.decision)
}

#[tokio::test]
async fn an_alarm_during_the_canary_bake_rolls_it_back_and_the_image_is_never_rolled_out_again() {
    let (s, alarm) = canary_setup("canary-alarm").await;
    let stock = s.cluster.image_id.clone();
    let (image, _) = bake_to_rollout(&s).await;
    let (_, mut fewest) = tick_to_canary_bake(&s, &image).await;

    set_alarm(&s, &alarm, aws_sdk_cloudwatch::types::StateValue::Alarm).await;
    let (steps, fewest_after) = tick_until_finished(&s, "rollback").await;
    fewest = fewest.min(fewest_after);
    assert!(
        phases(&steps).contains(&"RollingBack".to_owned()),
        "{steps:?}"
    );
    let outcome = bake_record(&steps).expect("the outcome is recorded");
    assert!(
        outcome["RolledBack"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&alarm)),
        "{outcome}"
    );
    assert_eq!(serving_image(&s, &image).await, (0, 3));
    assert_eq!(
        serving_image(&s, &stock).await,
        (3, 3),
        "the previous image serves on every instance"
    );
    assert!(fewest >= 3, "never fewer than three served ({fewest})");
    assert_eq!(
        default_image(&s).await.as_deref(),
        Some(stock.as_str()),
        "the template's default is the previous image again"
    );
    let told = published(&s.app);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].0.contains("rolled back"), "{told:?}");
    assert!(told[0].1.contains("marked bad"), "{told:?}");
    let cluster = ClusterName::new(&s.cluster.name).expect("cluster name");
    let record: Value = serde_json::from_str(
        &s.deps
            .store
            .read_doc(&cluster, "bake")
            .await
            .expect("read")
            .expect("the bake record")
            .body,
    )
    .expect("json");
    assert!(record["outcome"]["RolledBack"].is_object(), "{record}");

    // The image's AMI event again, and the reconciler's ticks: nothing rolls it out again.
    set_alarm(&s, &alarm, aws_sdk_cloudwatch::types::StateValue::Ok).await;
    handle(
        &ami_event(&image, "available"),
        &invocation("ami-again"),
        &s.deps,
    )
    .await
    .expect("a replayed AMI event is harmless");
    for round in 0..2 {
        tick(&s, &format!("after-{round}")).await;
    }
    assert_eq!(actions(&s.app, "StartInstanceRefresh").len(), 1);
    assert_eq!(serving_image(&s, &image).await, (0, 3));
}

#[tokio::test]
async fn a_fail_over_during_the_canary_rolls_it_back() {
    let emulator = Emulator::shared();
    let dns = halfhour_tests::loops::failover::setup("canary-failover", &[]).await;
    let s = gold_on(
        &dns.config,
        &dns.cluster,
        &dns.vars["HALFHOUR_NOTIFY_TOPIC_ARN"],
        "canary-failover",
    )
    .await;
    let stock = s.cluster.image_id.clone();
    let (image, _) = bake_to_rollout(&s).await;
    let (_, mut fewest) = tick_to_canary_bake(&s, &image).await;

    // The site's check fails while the canary serves: Route53 fails over, the failover loop
    // records it.
    emulator.set_health_check_status(&s.cluster.site_health_check_id, false);
    failover::handle(
        &halfhour_tests::loops::failover::health_alarm("ALARM"),
        &halfhour_tests::loops::failover::at("down", clock::now()),
        &dns.deps,
    )
    .await
    .expect("the failover loop decides");
    assert_eq!(dns.answer(), "SECONDARY");
    let (steps, fewest_after) = tick_until_finished(&s, "failed-over").await;
    emulator.set_health_check_status(&s.cluster.site_health_check_id, true);
    fewest = fewest.min(fewest_after);
    assert!(
        steps.contains(&json!({"RollBack": {"cause": "SiteFailedOver"}})),
        "{steps:?}"
    );
    assert_eq!(actions(&s.app, "RollbackInstanceRefresh").len(), 1);
    assert!(bake_record(&steps).is_some_and(|o| o["RolledBack"].is_object()));
    assert_eq!(serving_image(&s, &stock).await, (3, 3));
    assert!(fewest >= 3, "never fewer than three served ({fewest})");
    let told = published(&s.app);
    assert!(
        told.iter()
            .any(|(_, m)| m.contains("DNS failed over to the static site while the canary served")),
        "{told:?}"
    );
}

/// The image's own probe fails (the site does not come up on it): the lifecycle loop abandons the
/// canary each time AWS launches it again, its breaker trips and rolls the refresh back, and the
/// bake records the image bad. The canary never served; the old instances served throughout.
#[tokio::test]
async fn a_broken_image_is_caught_at_the_canary_and_the_previous_image_keeps_serving() {
    let emulator = Emulator::shared();
    let ls = halfhour_tests::loops::lifecycle::setup("canary-broken", &[]).await;
    let topic =
        halfhour_tests::fixture::create_topic(&ls.config, &format!("{}-gold", ls.cluster.name))
            .await
            .expect("topic");
    let s = gold_on(&ls.config, &ls.cluster, &topic, "canary-broken").await;
    let stock = s.cluster.image_id.clone();
    let (image, _) = bake_to_rollout(&s).await;
    emulator.set_image_probe(&image, false);

    let mut t = halfhour_tests::loops::lifecycle::event_time();
    let mut fewest = serving(&s).await;
    let mut finished = None;
    for round in 0..12 {
        let report = handle(
            &json!({"action": "reconcile"}),
            &invocation(&format!("gold-{round}")),
            &s.deps,
        )
        .await
        .expect("a gold-image tick");
        if report.bake.is_some_and(|b| b.finished) {
            finished = Some(wire(&report.steps));
            break;
        }
        for look in ["see", "judge"] {
            lifecycle::handle(
                &json!({"action": "reconcile"}),
                &halfhour_tests::loops::lifecycle::at(&format!("{look}-{round}"), t),
                &ls.deps,
            )
            .await
            .expect("a lifecycle tick");
            t = t.plus(std::time::Duration::from_secs(61));
        }
        fewest = fewest.min(serving(&s).await);
        assert_eq!(
            serving_image(&s, &image).await.0,
            0,
            "the broken image never serves"
        );
    }
    let steps = finished.expect("the bake finished");
    assert!(
        bake_record(&steps).is_some_and(|o| o["RolledBack"].is_object()),
        "{steps:?}"
    );
    assert_eq!(
        halfhour_tests::loops::lifecycle::calls(&ls.app, "RollbackInstanceRefresh").len(),
        1,
        "the breaker rolled the refresh back"
    );
    assert_eq!(serving_image(&s, &stock).await, (3, 3));
    assert!(fewest >= 3, "never fewer than three served ({fewest})");
    assert_eq!(default_image(&s).await.as_deref(), Some(stock.as_str()));
}

/// A bake recorded by the release before the canary (none of its fields) survives the upgrade:
/// read with their defaults, the refresh it started watched to its end.
#[tokio::test]
async fn a_bake_recorded_before_the_canary_existed_still_finishes() {
    let (s, _) = canary_setup("canary-upgrade").await;
    let (image, _) = bake_to_rollout(&s).await;
    let cluster = ClusterName::new(&s.cluster.name).expect("cluster name");
    let (mut previous, version) = bake_doc(&s, &cluster).await;
    let fields = previous.as_object_mut().expect("an object");
    for added in [
        "refresh_started_at",
        "canary",
        "canary_reached",
        "refresh_phase",
        "rollback_requested",
        "outcome",
        "default_restored",
        "schema_version",
    ] {
        fields.remove(added);
    }
    s.deps
        .store
        .write_doc(&cluster, "bake", &previous.to_string(), Some(version))
        .await
        .expect("the previous release's record written");
    // AWS still runs the refresh with its canary: once that serves, its bake time passes.
    for round in 0..15 {
        if serving_image(&s, &image).await == (1, 3) {
            break;
        }
        tick(&s, &format!("upgraded-canary-{round}")).await;
    }
    tick(&s, "upgraded-at-checkpoint").await; // AWS's look that finds the checkpoint reached
    Emulator::shared().advance_clock(BAKE_SECONDS + 1);
    let (steps, fewest) = tick_until_finished(&s, "upgraded").await;
    assert_eq!(bake_record(&steps), Some(json!("Successful")), "{steps:?}");
    assert_eq!(serving_image(&s, &image).await, (3, 3));
    assert!(fewest >= 3, "never fewer than three served ({fewest})");
    assert_eq!(
        bake_doc(&s, &cluster).await.0["schema_version"],
        halfhour::state::DOC_SCHEMA,
        "rewritten in this release's schema"
    );
}

/// The bake record as the state table holds it, and its version.
async fn bake_doc(s: &Setup, cluster: &ClusterName) -> (Value, u64) {
    let doc = s
        .deps
        .store
        .read_doc(cluster, "bake")
        .await
        .expect("read")
        .expect("the bake record");
    (serde_json::from_str(&doc.body).expect("json"), doc.version)
}

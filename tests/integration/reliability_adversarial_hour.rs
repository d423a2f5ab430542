//! The adversarial hour: every loop at once on one cluster, an hour of simulated time in 10 s
//! steps from a seed — a flapping site, a CPU alarm storm with duplicate deliveries, a DB
//! failover, a broken image whose launches fail their probe (the abandon loop), a gold-image
//! bake, a quarter of the lifecycle events lost, the reconciler's tick every minute. What must
//! hold: capacity never outside 2..10, DNS flips within the budget, no instance left waiting on
//! a hook, no image in use deleted.

// Suite helpers too: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use halfhour::Error;
use halfhour::domain::{Millis, parse_timestamp};
use halfhour_tests::{Cluster, Emulator};
use serde_json::{Value, json};

use halfhour_tests::faults::retried;
use halfhour_tests::loops;
use halfhour_tests::loops::every::{FLIP_BUDGET, every_loop};

const STEP: u64 = 10;
const HOUR: u64 = 3600;
/// xorshift64*: a seeded, dependency-free source of the hour's randomness.
struct Rng(u64);

impl Rng {
    fn chance(&mut self, p: f64) -> bool {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Errors Lambda would retry are fine mid-storm (the next delivery or tick re-derives);
/// anything else is a defect.
fn tolerate<T>(what: &str, outcome: Result<T, Error>) {
    if let Err(err) = outcome {
        assert!(retried(err.kind()), "{what}: {:?} {err}", err.kind());
    }
}

fn invocation(now: Millis, id: String) -> halfhour::invocation::Invocation {
    halfhour::invocation::Invocation::new(id, now, Duration::from_secs(60))
}

async fn images_in_use(config: &aws_config::SdkConfig, cluster: &Cluster) -> BTreeSet<String> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let mut used: BTreeSet<String> = ec2
        .describe_launch_template_versions()
        .launch_template_id(&cluster.launch_template_id)
        .versions("$Default")
        .versions("$Latest")
        .send()
        .await
        .unwrap()
        .launch_template_versions()
        .iter()
        .filter_map(|v| v.launch_template_data()?.image_id().map(str::to_owned))
        .collect();
    let instances: Vec<String> = cluster
        .instances(config)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    if !instances.is_empty() {
        let described = ec2
            .describe_instances()
            .set_instance_ids(Some(instances))
            .send()
            .await
            .unwrap();
        used.extend(
            described
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(|i| i.image_id().map(str::to_owned)),
        );
    }
    used
}

async fn adversarial_hour(seed: u64) {
    let emulator = Emulator::shared();
    let app = format!("hour{seed}");
    let (cluster, config, loops) = every_loop(&app).await;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let t0 = parse_timestamp("2026-11-27T14:00:00Z").unwrap();
    let at = |t: u64| t0.plus(Duration::from_secs(t));
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let (mut healthy, mut answers, mut desired_seen) = (true, Vec::new(), Vec::new());
    let mut bake_image: Option<String> = None;
    let (mut health_changes, mut alarm_deliveries, mut lifecycle_lost) = (0, 0, 0);
    let ids = std::cell::Cell::new(0u64);
    let id = |what: &str| {
        ids.set(ids.get() + 1);
        format!("{what}-{}", ids.get())
    };
    let resolve = || emulator.resolve(&cluster.hosted_zone_id, &cluster.record_name);

    for t in (0..HOUR + 600).step_by(STEP as usize) {
        let now = at(t);
        // The site: steady, then flapping for 40 minutes, then steady again.
        let flapping = (300..2700).contains(&t);
        if flapping && rng.chance(0.25) || !flapping && !healthy {
            healthy = !healthy;
            health_changes += 1;
            emulator.set_health_check_status(&cluster.site_health_check_id, healthy);
            let alarm = loops::failover::health_alarm(if healthy { "OK" } else { "ALARM" });
            tolerate(
                "site alarm",
                failover::handle(&alarm, &invocation(now, id("alarm")), &loops.failover).await,
            );
        }
        // Load: a storm of high-CPU alarms (each delivered up to three times), later low CPU.
        let storm = (600..1800).contains(&t) && t % 120 == 0;
        let calm = (2100..3000).contains(&t) && t % 180 == 0;
        if storm || calm {
            let event = loops::scaling::alarm_event(
                &format!(
                    "{}-{}",
                    cluster.name,
                    if storm { "cpu-high" } else { "cpu-low" }
                ),
                "ALARM",
                now,
            );
            for _ in 0..1 + usize::from(rng.chance(0.5)) + usize::from(rng.chance(0.5)) {
                alarm_deliveries += 1;
                tolerate(
                    "cpu alarm",
                    scaler::handle(&event, &invocation(now, id("cpu")), &loops.scaler).await,
                );
            }
        }
        // The database fails over for two minutes.
        for (when, event_id) in [(1200, "RDS-EVENT-0013"), (1320, "RDS-EVENT-0015")] {
            if t == when {
                let event = loops::failover::rds_event(
                    &cluster.db_instance_id,
                    event_id,
                    "Multi-AZ failover",
                );
                tolerate(
                    "rds",
                    db_events::handle(&event, &invocation(now, id("rds")), &loops.db).await,
                );
            }
        }
        // A broken image: launches fail their probe for 15 minutes, mid-storm (the abandon loop).
        if t == 700 || t == 1600 {
            emulator.set_group_probe(&cluster.asg_name, t == 1600);
        }
        // A gold-image bake once the site is steady; its AMI becomes available five minutes later.
        if t == 3000 {
            let report = gold_image::handle(
                &loops::gold_image::bake_request(&cluster),
                &invocation(now, id("bake")),
                &loops.gold,
            )
            .await;
            bake_image = report.ok().and_then(|r| r.bake?.image_id).map(String::from);
        }
        if t == 3300
            && let Some(image) = &bake_image
        {
            emulator.set_image_state(image, "available");
            let event = loops::gold_image::ami_event(image, "available");
            tolerate(
                "ami",
                gold_image::handle(&event, &invocation(now, id("ami")), &loops.gold).await,
            );
        }
        // ASG → EventBridge is best-effort: a quarter of the lifecycle events never arrive.
        for event in loops::lifecycle::waiting_actions_of(&cluster.asg_name) {
            if rng.chance(0.25) {
                lifecycle_lost += 1;
            } else {
                tolerate(
                    "lifecycle",
                    lifecycle::handle(&event, &invocation(now, id("life")), &loops.lifecycle).await,
                );
            }
        }
        // The reconciler's tick, every minute, asks each loop.
        if t % 60 == 0 {
            tolerate(
                "tick scaler",
                scaler::reconcile(&invocation(now, id("tick")), &loops.scaler).await,
            );
            tolerate(
                "tick lifecycle",
                lifecycle::reconcile(&invocation(now, id("tick")), &loops.lifecycle).await,
            );
            tolerate(
                "tick failover",
                failover::handle(
                    &json!({"action": "reconcile"}),
                    &invocation(now, id("tick")),
                    &loops.failover,
                )
                .await,
            );
            tolerate(
                "tick db",
                db_events::reconcile(&invocation(now, id("tick")), &loops.db).await,
            );
            tolerate(
                "tick gold",
                gold_image::reconcile(&invocation(now, id("tick")), &loops.gold).await,
            );
        }
        let group = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&cluster.asg_name)
            .send()
            .await
            .unwrap();
        desired_seen.push(
            group.auto_scaling_groups()[0]
                .desired_capacity()
                .unwrap_or(-1),
        );
        answers.push(resolve());
        if t % 300 == 0 {
            in_use_images_exist(&config, &cluster, seed, t).await;
        }
    }

    let (low, high) = (
        desired_seen.iter().min().copied(),
        desired_seen.iter().max().copied(),
    );
    assert!(
        low >= Some(2) && high <= Some(10),
        "seed {seed}: capacity stayed in 2..10 ({low:?}..{high:?})"
    );
    assert!(
        high > Some(2),
        "seed {seed}: the storm did scale out ({high:?})"
    );
    let flips = answers.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        flips <= FLIP_BUDGET,
        "seed {seed}: {flips} DNS flips > budget {FLIP_BUDGET}: {answers:?}"
    );
    assert_eq!(
        answers.last().map(String::as_str),
        Some("PRIMARY"),
        "seed {seed}: back on the site"
    );
    let stuck: Vec<Value> = loops::lifecycle::waiting_actions_of(&cluster.asg_name);
    assert!(
        stuck.is_empty(),
        "seed {seed}: instances still waiting on a hook: {stuck:?}"
    );
    in_use_images_exist(&config, &cluster, seed, HOUR + 600).await;
    let log = emulator.requests(&format!("lifecycle.{app}"));
    let abandons = log
        .iter()
        .filter(|r| r.action == "CompleteLifecycleAction" && r.took_effect())
        .filter(|r| r.params["LifecycleActionResult"] == "ABANDON")
        .count();
    assert!(
        abandons >= 1,
        "seed {seed}: the broken image's launches were abandoned"
    );
    let retired = emulator
        .requests(&format!("gold-image.{app}"))
        .iter()
        .filter(|r| r.action == "DeregisterImage" && r.took_effect())
        .count();
    println!(
        "adversarial hour, seed {seed}: {health_changes} site-health changes, {alarm_deliveries} CPU alarm \
         deliveries, {lifecycle_lost} lifecycle events lost, {abandons} launches abandoned, {retired} images \
         retired; capacity {low:?}..{high:?}, {flips} DNS flips (budget {FLIP_BUDGET}), 0 waiting at the end"
    );
}

async fn in_use_images_exist(config: &aws_config::SdkConfig, cluster: &Cluster, seed: u64, t: u64) {
    let in_use = images_in_use(config, cluster).await;
    let existing: BTreeSet<String> = aws_sdk_ec2::Client::new(config)
        .describe_images()
        .set_image_ids(Some(in_use.iter().cloned().collect()))
        .send()
        .await
        .expect("every image in use can be described")
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_owned))
        .collect();
    assert_eq!(
        existing, in_use,
        "seed {seed}, t={t}: an image in use was deleted"
    );
}

#[tokio::test]
async fn an_adversarial_hour_keeps_every_bound() {
    for seed in [1, 2] {
        adversarial_hour(seed).await;
    }
}

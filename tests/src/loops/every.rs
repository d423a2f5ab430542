//! Every loop's function on one seeded cluster at once (the adversarial hour, the switches).

use std::collections::HashMap;

use crate::{Cluster, Emulator};

/// The DNS flips an hour may make (`HALFHOUR_FLIP_BUDGET`) before the breaker pins the record.
pub const FLIP_BUDGET: usize = 4;

/// Each loop's deps, all on the same cluster.
pub struct Loops {
    pub scaler: scaler::Deps,
    pub lifecycle: lifecycle::Deps,
    pub failover: failover::Deps,
    pub db: db_events::Deps,
    pub gold: gold_image::Deps,
}

/// Every loop's function on one seeded cluster, each with its own app name (`<function>.<app>`).
pub async fn every_loop(app: &str) -> (Cluster, aws_config::SdkConfig, Loops) {
    let emulator = Emulator::shared();
    let (seed, cluster, topic) = super::seeded_with_topic(app).await;
    let vars: HashMap<&str, String> = HashMap::from([
        ("HALFHOUR_TABLE", cluster.table.clone()),
        ("HALFHOUR_CLUSTER", cluster.name.clone()),
        ("HALFHOUR_ASG_NAME", cluster.asg_name.clone()),
        (
            "HALFHOUR_SCALING_ALARMS",
            format!("{0}-cpu-high=+2,{0}-cpu-low=-1", cluster.name),
        ),
        ("HALFHOUR_HOSTED_ZONE_ID", cluster.hosted_zone_id.clone()),
        ("HALFHOUR_RECORD_NAME", cluster.record_name.clone()),
        (
            "HALFHOUR_SITE_HEALTH_CHECK_ID",
            cluster.site_health_check_id.clone(),
        ),
        (
            "HALFHOUR_GATE_HEALTH_CHECK_ID",
            cluster.gate_health_check_id.clone(),
        ),
        ("HALFHOUR_FLIP_BUDGET", FLIP_BUDGET.to_string()),
        ("HALFHOUR_DB_INSTANCE_ID", cluster.db_instance_id.clone()),
        ("HALFHOUR_NOTIFY_TOPIC_ARN", topic),
        ("HALFHOUR_READINESS_BUDGET_SECONDS", "60".into()),
        (
            "HALFHOUR_STATIC_SITE_URL",
            emulator.site_url(&cluster.website_host()),
        ),
    ]);
    let lookup = |name: &str| vars.get(name).cloned();
    let config =
        |function: &'static str| emulator.function_sdk_config(function, app, &cluster.name);
    let loops = Loops {
        scaler: scaler::Deps::from_sdk(
            scaler::ScalerConfig::from_lookup(lookup).unwrap(),
            &config("scaler").await.0,
        ),
        lifecycle: lifecycle::Deps::from_sdk(
            lifecycle::LifecycleConfig::from_lookup(lookup).unwrap(),
            &config("lifecycle").await.0,
        ),
        failover: failover::Deps::from_sdk(
            failover::FailoverConfig::from_lookup(lookup).unwrap(),
            &config("failover").await.0,
        ),
        db: db_events::Deps::from_sdk(
            db_events::DbEventsConfig::from_lookup(lookup).unwrap(),
            &config("db-events").await.0,
        ),
        gold: gold_image::Deps::from_sdk(
            gold_image::GoldImageConfig::from_lookup(lookup).unwrap(),
            &config("gold-image").await.0,
        ),
    };
    (cluster, seed, loops)
}

//! One integration-test binary: the real AWS SDK for Rust over HTTP against the emulator.
//! Modules are named `<area>_<subject>`.

mod emulator_images;
mod emulator_lifecycle;
mod emulator_refresh;
mod emulator_route53;
mod emulator_sns;
mod event_samples;
mod failover_dns;
mod failover_records;
mod failover_static_site;
mod fixture_cluster;
mod garbage_parsers;
mod gold_image_bake;
mod gold_image_canary;
mod lifecycle_hooks;
mod operator_switches;
mod reconciler_tick;
mod reliability_adversarial_hour;
mod reliability_crashes;
mod reliability_duplicates;
mod reliability_faults;
mod scaling_alarms;
mod state_flags;
mod state_idempotency;
mod state_lease;
mod state_upgrade;
mod template_functions;

use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour_tests::Emulator;
use halfhour_tests::emulator::unique_name;
use halfhour_tests::fixture::create_state_table;

/// A seeded cluster and its notification topic, made under the test's own app name
/// (`<app>-seed`), with that SDK configuration for the test's checks.
pub async fn seeded_with_topic(
    app: &str,
) -> (aws_config::SdkConfig, halfhour_tests::Cluster, String) {
    seeded_with_topic_shaped(app, &halfhour_tests::Shape::default()).await
}

/// [`seeded_with_topic`] for a cluster of the given shape.
pub async fn seeded_with_topic_shaped(
    app: &str,
    shape: &halfhour_tests::Shape,
) -> (aws_config::SdkConfig, halfhour_tests::Cluster, String) {
    let seed = Emulator::shared().sdk_config(&format!("{app}-seed")).await;
    let cluster = halfhour_tests::Cluster::seed_shaped(&seed, shape)
        .await
        .expect("cluster seeded");
    let topic = halfhour_tests::fixture::create_topic(&seed, &format!("{}-notify", cluster.name))
        .await
        .expect("topic");
    (seed, cluster, topic)
}

/// A fresh state table and a store on it, with requests tagged `app`.
pub async fn fresh_store(app: &str) -> DynamoStateStore {
    let config = Emulator::shared().sdk_config(app).await;
    let table = unique_name("state");
    create_state_table(&config, &table)
        .await
        .expect("state table created");
    DynamoStateStore::new(&config, table)
}

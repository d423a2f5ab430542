//! One integration-test binary: the real AWS SDK for Rust over HTTP against the emulator.
//! Modules are named `<area>_<subject>`.

mod emulator_images;
mod emulator_lifecycle;
mod emulator_refresh;
mod failover_dns;
mod fixture_cluster;
mod garbage_parsers;
mod gold_image_bake;
mod lifecycle_hooks;
mod reconciler_tick;
mod reliability_adversarial_hour;
mod reliability_crashes;
mod reliability_duplicates;
mod reliability_faults;
mod scaling_alarms;
mod state_flags;
mod state_idempotency;
mod state_lease;
mod template_functions;

use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour_tests::Emulator;
use halfhour_tests::emulator::unique_name;
use halfhour_tests::fixture::create_state_table;

/// A fresh state table and a store on it, with requests tagged `app`.
pub async fn fresh_store(app: &str) -> DynamoStateStore {
    let config = Emulator::shared().sdk_config(app).await;
    let table = unique_name("state");
    create_state_table(&config, &table)
        .await
        .expect("state table created");
    DynamoStateStore::new(&config, table)
}

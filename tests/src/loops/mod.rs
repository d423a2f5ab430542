//! Each loop's test setup, written once for every suite that drives it: the function's deps on a
//! seeded cluster (under the function's own app name, so the IAM proof knows whose calls they
//! are), the events it is sent, and the checks on what it did.

// Suite helpers: an unwrap that fails is a failed test.
#![allow(clippy::unwrap_used)]

pub mod every;
pub mod failover;
pub mod gold_image;
pub mod lifecycle;
pub mod reconciler;
pub mod scaling;

use halfhour::aws::dynamodb::DynamoStateStore;

use crate::Emulator;
use crate::emulator::unique_name;
use crate::fixture::create_state_table;

/// A seeded cluster and its notification topic, with an SDK configuration for the test's checks
/// (its calls logged as `<app>-seed`, never the function's).
pub async fn seeded_with_topic(app: &str) -> (aws_config::SdkConfig, crate::Cluster, String) {
    seeded_with_topic_shaped(app, &crate::Shape::default()).await
}

/// [`seeded_with_topic`] for a cluster of the given shape.
pub async fn seeded_with_topic_shaped(
    app: &str,
    shape: &crate::Shape,
) -> (aws_config::SdkConfig, crate::Cluster, String) {
    let seed = Emulator::shared().sdk_config(&format!("{app}-seed")).await;
    let cluster = crate::Cluster::seed_shaped(shape)
        .await
        .expect("cluster seeded");
    let topic = cluster.topic_arn.clone();
    (seed, cluster, topic)
}

/// A fresh state table and a store on it, with requests tagged `app`.
pub async fn fresh_store(app: &str) -> DynamoStateStore {
    let config = Emulator::shared().sdk_config(app).await;
    let table = unique_name("state");
    create_state_table(&table)
        .await
        .expect("state table created");
    DynamoStateStore::new(&config, table)
}

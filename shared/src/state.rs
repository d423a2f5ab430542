//! Typed access to the loops' JSON documents in the state table.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::ClusterName;
use crate::error::{Error, Result};
use crate::ports::StateStore;

/// The name of each loop's document in the state table (`doc#<name>`), and which loop keeps it:
/// the cluster-wide `status` reports them all.
pub mod doc {
    pub const LIFECYCLE: &str = "lifecycle";
    pub const FAILOVER: &str = "failover";
    pub const DATABASE: &str = "db";
    pub const SCALER: &str = "scaler";
    pub const SCALER_MONITORING: &str = "scaler-monitoring";
    pub const SCALER_COEXISTENCE: &str = "scaler-coexistence";
    pub const BAKE: &str = crate::domain::image::BAKE_DOC;
    /// The last decisions each loop acted on (see [`super::remember_decision`]).
    pub const DECISIONS: &str = "decisions";
    /// When each kind of notice last went out, and how many were held back since.
    pub const NOTICES: &str = "notices";

    /// (loop, document) for every document a loop keeps.
    pub const ALL: [(&str, &str); 9] = [
        ("lifecycle", LIFECYCLE),
        ("failover", FAILOVER),
        ("database", DATABASE),
        ("scaling", SCALER),
        ("scaling", SCALER_MONITORING),
        ("scaling", SCALER_COEXISTENCE),
        ("gold-image", BAKE),
        ("every loop", DECISIONS),
        ("every loop", NOTICES),
    ];
}

/// A loop's document and the version to name when writing it back, or None if never written.
pub async fn read_json<T: DeserializeOwned>(
    store: &dyn StateStore,
    cluster: &ClusterName,
    name: &str,
) -> Result<Option<(T, u64)>> {
    let Some(doc) = store.read_doc(cluster, name).await? else {
        return Ok(None);
    };
    let value = serde_json::from_str(&doc.body).map_err(|e| Error::Aws {
        operation: "ReadDoc",
        message: format!("{name} state of {cluster} is unreadable: {e}"),
    })?;
    Ok(Some((value, doc.version)))
}

/// A loop's document, or its default when never written, with the version to write back.
pub async fn read_json_or_default<T: DeserializeOwned + Default>(
    store: &dyn StateStore,
    cluster: &ClusterName,
    name: &str,
) -> Result<(T, Option<u64>)> {
    Ok(read_json(store, cluster, name).await?.map_or_else(
        || (T::default(), None),
        |(value, version)| (value, Some(version)),
    ))
}

/// Write a loop's document if it is still at `expected` (None: not written yet).
/// Ok(false) when another writer got there first.
pub async fn write_json<T: Serialize>(
    store: &dyn StateStore,
    cluster: &ClusterName,
    name: &str,
    value: &T,
    expected: Option<u64>,
) -> Result<bool> {
    let body = serde_json::to_string(value).map_err(|e| Error::Aws {
        operation: "WriteDoc",
        message: format!("{name} state of {cluster} cannot be written: {e}"),
    })?;
    store.write_doc(cluster, name, &body, expected).await
}

/// How many acted-on decisions `status` shows per loop.
const DECISIONS_KEPT: usize = 5;

/// One acted-on decision, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RememberedDecision {
    pub at: String,
    pub action: String,
    pub reason: Option<String>,
}

/// Keep `record` among its loop's last acted-on decisions for the cluster-wide `status`. Best
/// effort: the decision is already taken and logged, so a lost race or a failed write is logged
/// and never fails it.
pub async fn remember_decision(
    store: &dyn StateStore,
    record: &crate::telemetry::DecisionRecord,
    now: crate::domain::Millis,
) {
    let Ok(cluster) = ClusterName::new(&record.cluster) else {
        return;
    };
    let entry = RememberedDecision {
        at: crate::domain::format_utc(now),
        action: record.action.clone(),
        reason: record.reason.clone(),
    };
    for _ in 0..3 {
        let read = read_json_or_default::<
            std::collections::BTreeMap<String, Vec<RememberedDecision>>,
        >(store, &cluster, doc::DECISIONS)
        .await;
        let Ok((mut kept, version)) = read else {
            break;
        };
        let list = kept.entry(record.loop_name.to_owned()).or_default();
        list.insert(0, entry.clone());
        list.truncate(DECISIONS_KEPT);
        match write_json(store, &cluster, doc::DECISIONS, &kept, version).await {
            Ok(true) => return,
            Ok(false) => continue,
            Err(_) => break,
        }
    }
    tracing::warn!(loop_name = record.loop_name, action = %record.action, "decision not kept for status");
}

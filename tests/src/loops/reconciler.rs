//! The reconciler's setup: the function for a cluster, fanning out to emulated loop functions.

use std::time::Duration;

use halfhour::domain::Millis;

use crate::{Cluster, Emulator};

pub fn at(id: &str, now: Millis) -> halfhour::invocation::Invocation {
    halfhour::invocation::Invocation::new(id, now, Duration::from_secs(60))
}

/// The reconciler of `cluster`, fanning out to five declared (emulated) loop functions.
pub async fn reconciler_for(cluster: &Cluster, app: &str, dry_run: bool) -> reconciler::Deps {
    let functions: Vec<String> = ["gold-image", "scaler", "lifecycle", "failover"]
        .iter()
        .map(|name| {
            // As the cluster's stack names its functions (the reconciler's role may invoke those).
            let function = format!("{}-{name}", cluster.name);
            Emulator::shared().declare_function(&function);
            function
        })
        .collect();
    let vars = [
        ("HALFHOUR_TABLE", cluster.table.clone()),
        ("HALFHOUR_CLUSTER", cluster.name.clone()),
        ("HALFHOUR_RECONCILE_FUNCTIONS", functions.join(",")),
        ("HALFHOUR_NOTIFY_TOPIC_ARN", cluster.topic_arn.clone()),
        ("DRY_RUN", dry_run.to_string()),
    ];
    let config = reconciler::ReconcilerConfig::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let (sdk, _) = Emulator::shared()
        .function_sdk_config("reconciler", app, &cluster.name)
        .await;
    reconciler::Deps::from_sdk(config, &sdk)
}

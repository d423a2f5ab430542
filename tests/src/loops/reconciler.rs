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
            let function = format!("{app}-{name}");
            Emulator::shared().declare_function(&function);
            function
        })
        .collect();
    let topic = crate::fixture::create_topic(
        &Emulator::shared().sdk_config(&format!("{app}-seed")).await,
        &format!("{}-switches", cluster.name),
    )
    .await
    .unwrap();
    let vars = [
        ("HALFHOUR_TABLE", cluster.table.clone()),
        ("HALFHOUR_CLUSTER", cluster.name.clone()),
        ("HALFHOUR_RECONCILE_FUNCTIONS", functions.join(",")),
        ("HALFHOUR_NOTIFY_TOPIC_ARN", topic),
        ("DRY_RUN", dry_run.to_string()),
    ];
    let config = reconciler::ReconcilerConfig::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let (sdk, _) = Emulator::shared()
        .function_sdk_config("reconciler", app)
        .await;
    reconciler::Deps::from_sdk(config, &sdk)
}

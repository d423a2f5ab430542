//! The reconciler: events are hints, the reconciler is the truth. Every minute it asks each
//! loop's function to reconcile (`{"action": "reconcile"}`, an asynchronous invoke each), and each
//! loop re-derives what should be true from what it observes: the scaler re-evaluates alarms
//! still in ALARM, the gold-image loop re-drives a bake whose AMI event was lost and brings a
//! reference left in Standby back, the lifecycle loop drives instances stuck in a wait state,
//! the failover loop times its hold-downs and keeps the static page published, the database
//! loop checks for drift.
//!
//! The repairs run inside each loop's function, with that loop's own least-privilege policy:
//! the reconciler may only invoke them. One loop's failure never holds up another's repair.
//!
//! It also holds the cluster-wide switches: `pause` (the kill switch: a flag every loop honours,
//! each handing the cluster back to AWS's own behaviour), `resume`, and `status` (the lease, the
//! flags and every loop's document, read from the state table).

mod apply;
pub mod config;
pub mod input;
pub mod plan;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::lambda::LambdaInvoker;
use halfhour::core::Core;
use halfhour::domain::Loop;
use halfhour::domain::{Flag, FlagHold, format_utc};
pub use halfhour::invocation::Invocation;
use halfhour::ports::Invoker;
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use apply::tick;
pub use config::{FUNCTIONS, ReconcilerConfig};
pub use input::{Request, parse};
use plan::Switch;

pub struct Deps {
    pub core: Core<ReconcilerConfig>,
    pub invoker: Arc<dyn Invoker>,
}

halfhour::loop_deps!(Deps, ReconcilerConfig, halfhour::domain::Loop::Reconciler);

impl Deps {
    pub fn from_sdk(config: ReconcilerConfig, sdk: &SdkConfig) -> Self {
        Deps {
            invoker: Arc::new(LambdaInvoker::new(sdk)),
            core: Core::from_sdk(config, sdk),
        }
    }
}

/// What one tick asked of each loop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TickReport {
    pub invoked: Vec<String>,
    pub failed: Vec<String>,
    pub dry_run: bool,
}

pub async fn handle(payload: &Value, invocation: &Invocation, deps: &Deps) -> Result<Value, Error> {
    Ok(match parse(payload, &deps.config)? {
        Request::Tick => json!(tick(invocation, deps).await?),
        Request::Pause { reason } => {
            json!(switch(Switch::Pause { reason }, invocation, deps).await?)
        }
        Request::Resume => json!(switch(Switch::Resume, invocation, deps).await?),
        Request::Status => json!(status(invocation, deps).await?),
    })
}

/// What `pause` or `resume` did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwitchReport {
    pub paused: bool,
    /// The flag already said so: nothing changed.
    pub unchanged: bool,
    /// The loops asked to reconcile at once, so each hands the cluster back (or takes it up
    /// again) now rather than at the next tick.
    pub tick: Option<TickReport>,
    pub dry_run: bool,
}

/// The kill switch, or its release: the plan says what changes, given the flag as it stands.
async fn switch(
    switch: Switch,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<SwitchReport, Error> {
    let cluster = &deps.config.common.cluster;
    let paused_now = deps
        .store
        .read_flags(cluster)
        .await?
        .is_raised(Flag::Paused, invocation.now);
    let plan = plan::plan_switch(&switch, paused_now, invocation.now, cluster);
    let record = DecisionRecord::new(Loop::Reconciler, cluster, plan.action)
        .inputs(json!({"unchanged": plan.unchanged}))
        .reason(&plan.reason)
        .dry_run(deps.config.common.dry_run);
    record.emit();
    let tick = apply::apply(plan.steps, &record, invocation, deps).await?;
    Ok(SwitchReport {
        paused: plan.paused,
        unchanged: plan.unchanged,
        tick,
        dry_run: deps.config.common.dry_run,
    })
}

/// The cluster as the shared brain holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterStatus {
    pub cluster: String,
    /// Who paused it and why, or None when every loop acts.
    pub paused: Option<RaisedFlag>,
    pub lease: Option<HeldLease>,
    /// Every flag raised now.
    pub flags: Vec<RaisedFlag>,
    /// Each loop's documents as last written (a bake, the DNS hold, the waiting instances...).
    pub loops: Value,
    pub dry_run: bool,
}

/// A raised flag: who raised it, since and until when (UTC; None: until lowered).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RaisedFlag {
    pub flag: String,
    pub by: String,
    pub since: String,
    pub until: Option<String>,
}

impl RaisedFlag {
    fn of(flag: Flag, hold: &FlagHold) -> Self {
        RaisedFlag {
            flag: flag.as_str().to_owned(),
            by: hold.by.clone(),
            since: format_utc(hold.since),
            until: (hold.until.0 != i64::MAX).then(|| format_utc(hold.until)),
        }
    }
}

/// The lease on the cluster: who holds it, until when (UTC).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeldLease {
    pub owner: String,
    pub until: String,
}

async fn status(invocation: &Invocation, deps: &Deps) -> Result<ClusterStatus, Error> {
    let cluster = &deps.config.common.cluster;
    let now = invocation.now;
    let flags = deps.store.read_flags(cluster).await?;
    let raised: Vec<RaisedFlag> = flags
        .raised(now)
        .into_iter()
        .filter_map(|flag| flags.hold(flag).map(|hold| RaisedFlag::of(flag, hold)))
        .collect();
    let lease = deps
        .store
        .read_lease(cluster)
        .await?
        .filter(|lease| !lease.is_expired(now))
        .map(|lease| HeldLease {
            owner: lease.owner,
            until: format_utc(lease.until),
        });
    let mut loops = serde_json::Map::new();
    for (owner, name) in halfhour::state::doc::ALL {
        if let Some(doc) = deps.store.read_doc(cluster, name).await? {
            let body = serde_json::from_str(&doc.body).unwrap_or(Value::String(doc.body));
            let entry = loops.entry(owner).or_insert_with(|| json!({}));
            entry[name] = body;
        }
    }
    let paused = flags
        .hold(Flag::Paused)
        .filter(|_| flags.is_raised(Flag::Paused, now))
        .map(|hold| RaisedFlag::of(Flag::Paused, hold));
    DecisionRecord::new(Loop::Reconciler, cluster, "status")
        .inputs(json!({"paused": paused.is_some(), "flags": flags.raised(now)}))
        .reason("reported")
        .dry_run(deps.config.common.dry_run)
        .emit();
    Ok(ClusterStatus {
        cluster: cluster.to_string(),
        paused,
        lease,
        flags: raised,
        loops: Value::Object(loops),
        dry_run: deps.config.common.dry_run,
    })
}

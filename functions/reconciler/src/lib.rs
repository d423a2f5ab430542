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

pub mod config;
pub mod input;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour::aws::lambda::LambdaInvoker;
use halfhour::aws::sns::notifier;
use halfhour::domain::Loop;
use halfhour::domain::{Flag, FlagHold, Millis, Notice, PAUSE_OWNER, format_utc};
pub use halfhour::invocation::Invocation;
use halfhour::ports::{
    Invoker, Notifier, StateStore, notify_best_effort, send_held_back_summaries,
};
use halfhour::state::remember_decision;
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::{FUNCTIONS, ReconcilerConfig};
pub use input::{Request, parse};

pub struct Deps {
    pub config: ReconcilerConfig,
    pub invoker: Arc<dyn Invoker>,
    /// The shared brain: the pause flag and what `status` reports.
    pub store: Arc<dyn StateStore>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Deps {
    pub fn from_sdk(config: ReconcilerConfig, sdk: &SdkConfig) -> Self {
        Deps {
            invoker: Arc::new(LambdaInvoker::new(sdk)),
            store: Arc::new(DynamoStateStore::new(sdk, config.common.table.clone())),
            notifier: notifier(sdk, config.common.notify_topic_arn.as_ref()),
            config,
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
        Request::Pause { reason } => json!(pause(&reason, invocation, deps).await?),
        Request::Resume => json!(resume(invocation, deps).await?),
        Request::Status => json!(status(invocation, deps).await?),
    })
}

/// Ask every loop to reconcile (asynchronously); one loop's failure does not stop the others.
/// In observe mode too: each loop observes as well, so a reconcile changes nothing in the
/// cluster, and without it a trial would record none of the loops' periodic decisions.
pub async fn tick(invocation: &Invocation, deps: &Deps) -> Result<TickReport, Error> {
    let config = &deps.config;
    let dry_run = config.common.dry_run;
    let request = json!({"action": "reconcile", "cluster": config.common.cluster.as_str()});
    let (mut invoked, mut failed) = (Vec::new(), Vec::new());
    for function in &config.functions {
        match deps.invoker.invoke_async(function, &request).await {
            Ok(()) => invoked.push(function.clone()),
            Err(err) => {
                tracing::warn!(%function, error = %err, "reconcile tick not delivered");
                failed.push(function.clone());
            }
        }
    }
    // Notices held back by the quiet period are summarised once it is over, even when no
    // later notice of their kind comes to carry the count.
    let summaries = send_held_back_summaries(
        deps.notifier.as_ref(),
        deps.store.as_ref(),
        &config.common.cluster,
        invocation.now,
    )
    .await
    .unwrap_or_else(|err| {
        tracing::warn!(error = %err, "held-back notices not summarised");
        0
    });
    DecisionRecord::new(Loop::Reconciler, &config.common.cluster, "tick")
        .inputs(json!({"functions": config.functions, "request_id": invocation.request_id, "summaries_sent": summaries}))
        .reason(format!(
            "asked {} loops to reconcile, {} failed",
            invoked.len(),
            failed.len()
        ))
        .dry_run(dry_run)
        .emit();
    if !failed.is_empty() {
        // Every loop was tried; Lambda's retry re-asks all of them, which is harmless.
        return Err(Error::Retryable {
            operation: "Invoke",
            message: format!("reconcile tick not delivered to {}", failed.join(", ")),
        });
    }
    Ok(TickReport {
        invoked,
        failed,
        dry_run,
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

/// The kill switch: raise the pause flag (no expiry: it holds until `resume`), then tick. In
/// observe mode as well: the flag is halfhour's own state, and a cluster paused during a trial
/// stays paused when the trial ends.
async fn pause(reason: &str, invocation: &Invocation, deps: &Deps) -> Result<SwitchReport, Error> {
    let cluster = &deps.config.common.cluster;
    let now = invocation.now;
    let already = deps
        .store
        .read_flags(cluster)
        .await?
        .is_raised(Flag::Paused, now);
    let record = switch_record("pause", reason, already, deps);
    if already {
        return Ok(switch_report(true, already, None, deps));
    }
    let hold = FlagHold {
        by: format!("{PAUSE_OWNER}: {reason}"),
        since: now,
        until: Millis(i64::MAX),
    };
    deps.store
        .raise_flag(cluster, Flag::Paused, &hold, false, now)
        .await?;
    remember_decision(deps.store.as_ref(), &record, now).await;
    let notice = Notice::new(
        Loop::Reconciler,
        cluster,
        "paused",
        "paused",
        format!(
            "Every loop of {cluster} stopped changing the cluster at {} ({reason}). Launches and terminations go on without waiting on halfhour, DNS follows Route53's own health check, capacity is left alone, a running bake waits.",
            format_utc(now)
        ),
    )
    .decision("pause")
    .next_step("Resume with {\"action\": \"resume\"} on the reconciler.");
    notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
    let ticked = tick(invocation, deps).await?;
    Ok(switch_report(true, false, Some(ticked), deps))
}

async fn resume(invocation: &Invocation, deps: &Deps) -> Result<SwitchReport, Error> {
    let cluster = &deps.config.common.cluster;
    let paused = deps
        .store
        .read_flags(cluster)
        .await?
        .is_raised(Flag::Paused, invocation.now);
    let record = switch_record("resume", "resumed by an operator", !paused, deps);
    if !paused {
        return Ok(switch_report(false, !paused, None, deps));
    }
    deps.store.lower_flag(cluster, Flag::Paused, None).await?;
    remember_decision(deps.store.as_ref(), &record, invocation.now).await;
    let notice = Notice::new(
        Loop::Reconciler,
        cluster,
        "resumed",
        "resumed",
        format!(
            "Every loop of {cluster} acts again from {}.",
            format_utc(invocation.now)
        ),
    )
    .decision("resume");
    notify_best_effort(
        deps.notifier.as_ref(),
        deps.store.as_ref(),
        notice,
        invocation.now,
    )
    .await;
    let ticked = tick(invocation, deps).await?;
    Ok(switch_report(false, false, Some(ticked), deps))
}

fn switch_record(action: &str, reason: &str, unchanged: bool, deps: &Deps) -> DecisionRecord {
    let record = DecisionRecord::new(Loop::Reconciler, &deps.config.common.cluster, action)
        .inputs(json!({"unchanged": unchanged}))
        .reason(reason)
        .dry_run(deps.config.common.dry_run);
    record.emit();
    record
}

fn switch_report(
    paused: bool,
    unchanged: bool,
    tick: Option<TickReport>,
    deps: &Deps,
) -> SwitchReport {
    SwitchReport {
        paused,
        unchanged,
        tick,
        dry_run: deps.config.common.dry_run,
    }
}

/// The cluster as the shared brain holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterStatus {
    pub cluster: String,
    /// Who paused it and why, or None when every loop acts.
    pub paused: Option<Value>,
    pub lease: Option<Value>,
    /// Every flag raised now: who raised it, since and until when (UTC).
    pub flags: Vec<Value>,
    /// Each loop's documents as last written (a bake, the DNS hold, the waiting instances...).
    pub loops: Value,
    pub dry_run: bool,
}

async fn status(invocation: &Invocation, deps: &Deps) -> Result<ClusterStatus, Error> {
    let cluster = &deps.config.common.cluster;
    let now = invocation.now;
    let flags = deps.store.read_flags(cluster).await?;
    let hold_json = |flag: Flag, hold: &FlagHold| {
        json!({"flag": flag.as_str(), "by": hold.by, "since": format_utc(hold.since),
               "until": (hold.until.0 != i64::MAX).then(|| format_utc(hold.until))})
    };
    let raised: Vec<Value> = flags
        .raised(now)
        .into_iter()
        .filter_map(|flag| flags.hold(flag).map(|hold| hold_json(flag, hold)))
        .collect();
    let lease = deps
        .store
        .read_lease(cluster)
        .await?
        .filter(|lease| !lease.is_expired(now))
        .map(|lease| json!({"owner": lease.owner, "until": format_utc(lease.until)}));
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
        .map(|hold| hold_json(Flag::Paused, hold));
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

//! The database loop: an RDS Multi-AZ failover opens the cluster's `db_failover` window (bounded)
//! that the other loops respect — no DNS flip, no ABANDON, no scale-in — and its completion closes
//! it after a short grace. Multi-AZ turned off or backups disabled is drift, and is reported.

mod apply;
pub mod config;
#[cfg(test)]
mod handler_tests;
pub mod input;
pub mod plan;

use std::sync::Arc;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::rds::Rds;
use halfhour::core::Core;
use halfhour::domain::Loop;
use halfhour::domain::{Flag, Millis};
pub use halfhour::invocation::Invocation;
use halfhour::ports::Databases;
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::DbEventsConfig;
pub use input::Input;
pub use plan::{DbEvent, Drift, classify, drift_of, names_instance};

/// The function's name, as its loop gives it (flag holders, notice owners).
pub const FUNCTION: &str = <DbEventsConfig as halfhour::core::LoopConfig>::LOOP.function();
pub(crate) const STATE_DOC: &str = halfhour::state::doc::DATABASE;

pub struct Deps {
    pub core: Core<DbEventsConfig>,
    pub databases: Arc<dyn Databases>,
}

halfhour::loop_deps!(Deps, DbEventsConfig, Loop::Database);

impl Deps {
    pub fn from_sdk(config: DbEventsConfig, sdk: &SdkConfig) -> Self {
        Deps {
            databases: Arc::new(Rds::new(sdk)),
            core: Core::from_sdk(config, sdk),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct DbState {
    /// When each kind of drift was last reported.
    pub(crate) notified: Vec<(Drift, Millis)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DbReport {
    pub action: String,
    pub window_until: Option<Millis>,
    pub drift: Vec<Drift>,
    pub dry_run: bool,
}

pub async fn handle(
    payload: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<DbReport, Error> {
    match Input::parse(payload, &deps.config)? {
        Input::Reconcile => reconcile(invocation, deps).await,
        Input::Event { event, message, .. } if deps.config.common.dry_run => {
            on_event(event, &message, invocation, deps).await
        }
        Input::Event { id, event, message } => {
            let payload = json!({"event": event, "message": message});
            let invocation = &invocation.for_event(id);
            deps.once(invocation, &payload, || {
                on_event(event, &message, invocation, deps)
            })
            .await
        }
    }
}

async fn on_event(
    event: DbEvent,
    message: &str,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<DbReport, Error> {
    let config = &deps.config;
    let now = invocation.now;
    let decision = plan::plan_event(event, message, now, config);
    let record = DecisionRecord::new(Loop::Database, &config.common.cluster, decision.action)
        .inputs(json!({"event": event, "message": message, "db": config.db_instance}))
        .reason(format!("{event:?}"))
        .dry_run(config.common.dry_run);
    record.emit();
    apply::apply(decision.steps, &record, now, deps).await?;
    Ok(DbReport {
        action: decision.action.into(),
        window_until: decision.window_until,
        drift: vec![],
        dry_run: config.common.dry_run,
    })
}

/// The reconciler's part: check Multi-AZ and backups each run, and lower a window that has
/// outlived its bound.
pub async fn reconcile(invocation: &Invocation, deps: &Deps) -> Result<DbReport, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let now = invocation.now;
    let db = deps
        .databases
        .describe_db(&config.db_instance)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "cluster {cluster}'s database {}",
                config.db_instance
            ))
        })?;
    let drift = drift_of(&db);
    let flags = deps.store.read_flags(cluster).await?;
    let stale_window = flags.hold(Flag::DbFailover).is_some_and(|h| h.until <= now);
    let decision = plan::plan_reconcile(&drift, stale_window, config);
    let record = DecisionRecord::new(Loop::Database, cluster, decision.action)
        .inputs(json!({"db": config.db_instance, "multi_az": db.multi_az, "backup_retention_days": db.backup_retention_days,
                       "stale_window": stale_window}))
        .reason(format!("{drift:?}"))
        .dry_run(config.common.dry_run);
    record.emit();
    apply::apply(decision.steps, &record, now, deps).await?;
    Ok(DbReport {
        action: "reconcile".into(),
        window_until: flags
            .hold(Flag::DbFailover)
            .map(|h| h.until)
            .filter(|u| *u > now),
        drift,
        dry_run: config.common.dry_run,
    })
}

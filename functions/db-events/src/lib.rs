//! The database loop: an RDS Multi-AZ failover opens the cluster's `db_failover` window (bounded)
//! that the other loops respect — no DNS flip, no ABANDON, no scale-in — and its completion closes
//! it after a short grace. Multi-AZ turned off or backups disabled is drift, and is reported.

pub mod config;
pub mod input;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour::aws::rds::Rds;
use halfhour::aws::sns::notifier;
use halfhour::domain::Loop;
use halfhour::domain::{Flag, FlagHold, Millis, Notice};
use halfhour::idempotency::{Attempt, run_once};
pub use halfhour::invocation::Invocation;
use halfhour::ports::{Databases, Notifier, StateStore, notify_best_effort};
use halfhour::state::remember_decision;
use halfhour::state::{read_json_or_default, write_json};
use halfhour::telemetry::DecisionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::DbEventsConfig;
pub use input::Input;
pub use plan::{DbEvent, Drift, classify, drift_of, names_instance};

pub const FUNCTION: &str = Loop::Database.function();
/// Drift is reported at most once a day per kind.
const DRIFT_RENOTIFY: Duration = Duration::from_secs(86_400);
const STATE_DOC: &str = halfhour::state::doc::DATABASE;

pub struct Deps {
    pub config: DbEventsConfig,
    pub store: Arc<dyn StateStore>,
    pub databases: Arc<dyn Databases>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Deps {
    pub fn from_sdk(config: DbEventsConfig, sdk: &SdkConfig) -> Self {
        Deps {
            store: Arc::new(DynamoStateStore::new(sdk, config.common.table.clone())),
            databases: Arc::new(Rds::new(sdk)),
            notifier: notifier(sdk, config.common.notify_topic_arn.as_ref()),
            config,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct DbState {
    /// When each kind of drift was last reported.
    notified: Vec<(Drift, Millis)>,
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
            let attempt = Attempt::new(
                FUNCTION,
                &id,
                invocation,
                deps.config.common.idempotency_ttl,
            );
            run_once(
                deps.store.as_ref(),
                attempt,
                &json!({"event": event, "message": message}),
                || on_event(event, &message, invocation, deps),
            )
            .await
            .map(|o| o.into_inner())
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
    let cluster = &config.common.cluster;
    let now = invocation.now;
    let dry_run = config.common.dry_run;
    let (action, window_until) = match event {
        DbEvent::FailoverStarted => ("open_window", Some(now.plus(config.window_max))),
        DbEvent::FailoverCompleted => (
            "close_window_after_grace",
            Some(now.plus(config.close_grace)),
        ),
        DbEvent::MultiAzOff | DbEvent::BackupsDisabled => ("report_drift", None),
        DbEvent::Outage => ("report_outage", None),
        DbEvent::Other => ("ignore", None),
    };
    let record = DecisionRecord::new(Loop::Database, cluster, action)
        .inputs(json!({"event": event, "message": message, "db": config.db_instance}))
        .reason(format!("{event:?}"))
        .dry_run(dry_run);
    record.emit();
    if !dry_run {
        if event != DbEvent::Other {
            remember_decision(deps.store.as_ref(), &record, now).await;
        }
        if let Some(until) = window_until {
            let hold = FlagHold {
                by: FUNCTION.into(),
                since: now,
                until,
            };
            deps.store
                .raise_flag(cluster, Flag::DbFailover, &hold, false, now)
                .await?;
        }
        let drift = match event {
            DbEvent::MultiAzOff => Some(Drift::MultiAzOff),
            DbEvent::BackupsDisabled => Some(Drift::BackupsDisabled),
            _ => None,
        };
        if let Some(drift) = drift {
            report_drift(&[drift], now, deps).await?;
        }
        if event == DbEvent::Outage {
            report_outage(message, now, deps).await;
        }
    }
    Ok(DbReport {
        action: action.into(),
        window_until,
        drift: vec![],
        dry_run,
    })
}

/// The reconciler's part: check Multi-AZ and backups each run, and lower a window that has
/// outlived its bound (expired holds already count as lowered; this tidies the record).
pub async fn reconcile(invocation: &Invocation, deps: &Deps) -> Result<DbReport, Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let now = invocation.now;
    let dry_run = config.common.dry_run;
    let db = deps
        .databases
        .describe_db(&config.db_instance)
        .await?
        .ok_or_else(|| Error::Aws {
            operation: "DescribeDBInstances",
            message: format!(
                "cluster {cluster}'s database {} does not exist",
                config.db_instance
            ),
        })?;
    let drift = drift_of(&db);
    let flags = deps.store.read_flags(cluster).await?;
    let stale_window = flags.hold(Flag::DbFailover).is_some_and(|h| h.until <= now);
    DecisionRecord::new(Loop::Database, cluster, if drift.is_empty() { "healthy" } else { "report_drift" })
        .inputs(json!({"db": config.db_instance, "multi_az": db.multi_az, "backup_retention_days": db.backup_retention_days,
                       "stale_window": stale_window}))
        .reason(format!("{drift:?}"))
        .dry_run(dry_run)
        .emit();
    if !dry_run {
        if stale_window {
            deps.store
                .lower_flag(cluster, Flag::DbFailover, None)
                .await?;
        }
        report_drift(&drift, now, deps).await?;
    }
    Ok(DbReport {
        action: "reconcile".into(),
        window_until: flags
            .hold(Flag::DbFailover)
            .map(|h| h.until)
            .filter(|u| *u > now),
        drift,
        dry_run,
    })
}

/// A stopped or failed database is an outage no window explains: the operator hears of it.
/// Once per event (the event's idempotency record).
async fn report_outage(message: &str, now: Millis, deps: &Deps) {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let notice = Notice::new(
        Loop::Database,
        cluster,
        "database-down",
        "database down",
        format!(
            "Database {} of cluster {cluster} is down: \"{message}\". The site cannot serve until it is started or recovered; halfhour does not start or restore databases.",
            config.db_instance
        ),
    )
    .decision("report_outage")
    .next_step(format!("Look at the database's events (aws rds describe-events --source-identifier {} --source-type db-instance) and start or recover it.", config.db_instance))
    .resource(&config.db_instance);
    notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
}

/// Notify each kind of drift at most once a day.
async fn report_drift(drift: &[Drift], now: Millis, deps: &Deps) -> Result<(), Error> {
    let config = &deps.config;
    let cluster = &config.common.cluster;
    let (mut state, version) =
        read_json_or_default::<DbState>(deps.store.as_ref(), cluster, STATE_DOC).await?;
    let due: Vec<Drift> = drift
        .iter()
        .copied()
        .filter(|d| {
            !state
                .notified
                .iter()
                .any(|(k, at)| k == d && now.since(*at) < DRIFT_RENOTIFY)
        })
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    state.notified.retain(|(k, _)| !due.contains(k));
    state.notified.extend(due.iter().map(|d| (*d, now)));
    if !write_json(deps.store.as_ref(), cluster, STATE_DOC, &state, version).await? {
        return Ok(()); // another invocation is reporting it
    }
    let notice = Notice::new(
        Loop::Database,
        cluster,
        "database-drift",
        "database drift",
        format!(
            "Database {} of cluster {cluster} drifted: {}. halfhour's story needs a Multi-AZ database with automated backups.",
            config.db_instance,
            due.iter()
                .map(|d| format!("{d:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .decision("report_drift")
    .next_step(format!("Turn Multi-AZ and automated backups back on: aws rds modify-db-instance --db-instance-identifier {} --multi-az --backup-retention-period 7 --apply-immediately", config.db_instance))
    .resource(&config.db_instance);
    notify_best_effort(deps.notifier.as_ref(), deps.store.as_ref(), notice, now).await;
    Ok(())
}

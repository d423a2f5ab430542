//! The database loop: an RDS Multi-AZ failover opens the cluster's `db_failover` window (bounded)
//! that the other loops respect — no DNS flip, no ABANDON, no scale-in — and its completion closes
//! it after a short grace. Multi-AZ turned off or backups disabled is drift, and is reported.

use std::sync::Arc;
use std::time::Duration;

use halfhour::Error;
use halfhour::aws::SdkConfig;
use halfhour::aws::dynamodb::DynamoStateStore;
use halfhour::aws::rds::Rds;
use halfhour::aws::sns::notifier;
use halfhour::config::{CommonConfig, ConfigError, Vars};
use halfhour::domain::Loop;
use halfhour::domain::{Command, Flag, FlagHold, Millis, Notice};
use halfhour::idempotency::{Attempt, run_once};
pub use halfhour::invocation::Invocation;
use halfhour::ports::{Databases, Notifier, StateStore, notify_best_effort};
use halfhour::state::remember_decision;
use halfhour::state::{read_json_or_default, write_json};
use halfhour::telemetry::DecisionRecord;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const FUNCTION: &str = Loop::Database.function();
pub const DB_INSTANCE_ID: &str = "HALFHOUR_DB_INSTANCE_ID";
pub const WINDOW_MAX_SECONDS: &str = "HALFHOUR_DB_WINDOW_MAX_SECONDS";
pub const CLOSE_GRACE_SECONDS: &str = "HALFHOUR_DB_CLOSE_GRACE_SECONDS";
/// Drift is reported at most once a day per kind.
const DRIFT_RENOTIFY: Duration = Duration::from_secs(86_400);
const STATE_DOC: &str = halfhour::state::doc::DATABASE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEventsConfig {
    pub common: CommonConfig,
    pub db_instance: String,
    /// The longest a failover window stays open, even if the completion event is lost.
    pub window_max: Duration,
    /// How long the window stays open after the failover completed (DNS settling, reconnects).
    pub close_grace: Duration,
}

impl DbEventsConfig {
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        Ok(DbEventsConfig {
            common: CommonConfig::from_lookup(lookup)?,
            db_instance: vars.required(DB_INSTANCE_ID)?,
            window_max: vars.seconds_or(WINDOW_MAX_SECONDS, 600, 60, 3600)?,
            close_grace: vars.seconds_or(CLOSE_GRACE_SECONDS, 60, 0, 600)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

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

/// What an RDS event means to halfhour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DbEvent {
    FailoverStarted,
    FailoverCompleted,
    MultiAzOff,
    BackupsDisabled,
    /// The database stopped (RDS-EVENT-0087) or failed (category `failure`): the site is down
    /// until someone acts, and no window of halfhour's explains it.
    Outage,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Drift {
    MultiAzOff,
    BackupsDisabled,
}

/// Classify by RDS event id, falling back to category and message for events that carry no
/// `EventID` (ids and messages: <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.Messages.html>).
pub fn classify(event_id: &str, categories: &[String], message: &str) -> DbEvent {
    let message = message.to_ascii_lowercase();
    let category = |c: &str| categories.iter().any(|k| k == c);
    match event_id {
        "RDS-EVENT-0013" | "RDS-EVENT-0050" => DbEvent::FailoverStarted,
        "RDS-EVENT-0015" | "RDS-EVENT-0049" | "RDS-EVENT-0051" | "RDS-EVENT-0065" => {
            DbEvent::FailoverCompleted
        }
        // A user-requested failover RDS abandoned: nothing moved.
        "RDS-EVENT-0034" => DbEvent::Other,
        "RDS-EVENT-0028" => DbEvent::BackupsDisabled,
        "RDS-EVENT-0087" | "RDS-EVENT-0031" | "RDS-EVENT-0035" | "RDS-EVENT-0036" => {
            DbEvent::Outage
        }
        _ if category("failover") && message.contains("abandon") => DbEvent::Other,
        _ if category("failover") && message.contains("started") => DbEvent::FailoverStarted,
        _ if category("failover")
            && (message.contains("complete") || message.contains("recovered")) =>
        {
            DbEvent::FailoverCompleted
        }
        _ if category("failure") => DbEvent::Outage,
        _ if category("notification") && message.contains("db instance stopped") => DbEvent::Outage,
        _ if message.contains("single-az") => DbEvent::MultiAzOff,
        _ if message.contains("backups") && message.contains("disabled") => {
            DbEvent::BackupsDisabled
        }
        _ => DbEvent::Other,
    }
}

/// Whether an RDS event is about `db_instance`: by `SourceArn` (unambiguous), else by
/// `SourceIdentifier`, which AWS's own examples give both bare and as `rds:<name>`
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.overview.html>).
pub fn names_instance(
    source_arn: Option<&str>,
    source_id: Option<&str>,
    db_instance: &str,
) -> bool {
    match source_arn {
        Some(arn) => arn
            .rsplit_once(":db:")
            .is_some_and(|(_, name)| name == db_instance),
        None => source_id
            .map(|id| id.strip_prefix("rds:").unwrap_or(id))
            .is_some_and(|name| name == db_instance),
    }
}

/// The drift a DB's settings show, pure.
pub fn drift_of(db: &halfhour::domain::DbInfo) -> Vec<Drift> {
    let mut drift = Vec::new();
    if !db.multi_az {
        drift.push(Drift::MultiAzOff);
    }
    if db.backup_retention_days == 0 {
        drift.push(Drift::BackupsDisabled);
    }
    drift
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Event {
        id: String,
        event: DbEvent,
        message: String,
    },
    Reconcile,
}

impl Input {
    pub fn parse(payload: &Value, config: &DbEventsConfig) -> Result<Input, Error> {
        let cluster = &config.common.cluster;
        if let Some(command) = Command::from_event(payload, cluster) {
            let command = command.map_err(|e| Error::from_command(e, cluster))?;
            return match command.action.as_str() {
                "reconcile" => Ok(Input::Reconcile),
                other => Err(Error::bad_event(format!(
                    "db-events knows no action `{other}` (reconcile)"
                ))),
            };
        }
        if payload.get("detail-type").and_then(Value::as_str) != Some("RDS DB Instance Event") {
            return Err(Error::bad_event(
                "not an RDS DB Instance Event or {\"action\": \"reconcile\"}",
            ));
        }
        #[derive(Deserialize)]
        struct Detail {
            #[serde(rename = "EventCategories", default)]
            categories: Vec<String>,
            #[serde(rename = "SourceIdentifier", default)]
            source: Option<String>,
            #[serde(rename = "SourceArn", default)]
            source_arn: Option<String>,
            #[serde(rename = "Message", default)]
            message: String,
            #[serde(rename = "EventID", default)]
            event_id: String,
        }
        let detail = Detail::deserialize(payload.get("detail").cloned().unwrap_or(Value::Null))
            .map_err(|e| Error::bad_event(format!("malformed RDS event: {e}")))?;
        if !names_instance(
            detail.source_arn.as_deref(),
            detail.source.as_deref(),
            &config.db_instance,
        ) {
            return Err(Error::bad_event(format!(
                "DB instance `{}` is not cluster {cluster}'s database `{}`",
                detail
                    .source_arn
                    .or(detail.source)
                    .unwrap_or_else(|| "(none named)".into()),
                config.db_instance
            )));
        }
        let id = payload
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad_event("RDS event without an id"))?
            .to_owned();
        Ok(Input::Event {
            id,
            event: classify(&detail.event_id, &detail.categories, &detail.message),
            message: detail.message,
        })
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

pub async fn function_handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let invocation = Invocation::from_context(&event.context);
    Ok(json!(handle(&event.payload, &invocation, deps).await?))
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

#[cfg(test)]
mod tests {
    use super::*;
    use halfhour::domain::DbInfo;

    #[test]
    fn rds_events_are_classified_by_id_then_by_wording() {
        let failover = vec!["failover".to_owned()];
        assert_eq!(
            classify("RDS-EVENT-0013", &failover, ""),
            DbEvent::FailoverStarted
        );
        assert_eq!(
            classify("RDS-EVENT-0015", &failover, ""),
            DbEvent::FailoverCompleted
        );
        assert_eq!(
            classify("RDS-EVENT-0049", &failover, ""),
            DbEvent::FailoverCompleted
        );
        assert_eq!(
            classify(
                "RDS-EVENT-9999",
                &failover,
                "Multi-AZ instance failover started."
            ),
            DbEvent::FailoverStarted
        );
        assert_eq!(
            classify(
                "",
                &[],
                "The DB instance is being converted to a Single-AZ DB instance."
            ),
            DbEvent::MultiAzOff
        );
        assert_eq!(
            classify("RDS-EVENT-0028", &[], ""),
            DbEvent::BackupsDisabled
        );
        assert_eq!(
            classify(
                "RDS-EVENT-0002",
                &["backup".to_owned()],
                "Finished DB instance backup."
            ),
            DbEvent::Other
        );
        assert_eq!(classify("RDS-EVENT-0087", &[], ""), DbEvent::Outage);
        assert_eq!(
            classify(
                "",
                &["failure".to_owned()],
                "DB instance put into failed state."
            ),
            DbEvent::Outage
        );
        assert_eq!(
            classify(
                "",
                &failover,
                "Abandoning user requested failover since a failover recently occurred on the database instance."
            ),
            DbEvent::Other
        );
        assert_eq!(
            classify("", &failover, "A Multi-AZ failover has completed."),
            DbEvent::FailoverCompleted
        );
    }

    #[test]
    fn drift_is_single_az_or_no_backups() {
        let db = |multi_az, days| DbInfo {
            multi_az,
            backup_retention_days: days,
            status: "available".into(),
        };
        assert_eq!(drift_of(&db(true, 7)), vec![]);
        assert_eq!(
            drift_of(&db(false, 0)),
            vec![Drift::MultiAzOff, Drift::BackupsDisabled]
        );
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;

    /// Every shipped event fixture parses to the input it stands for.
    #[test]
    fn event_fixtures_parse() {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            (DB_INSTANCE_ID, "prod-db"),
        ];
        let config = DbEventsConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap();
        let parse = |file: &str| {
            let payload = halfhour::testing::event_fixture(
                env!("CARGO_MANIFEST_DIR"),
                &format!("db-events/{file}"),
            );
            Input::parse(&payload, &config).unwrap()
        };
        assert!(matches!(
            parse("failover-started.json"),
            Input::Event {
                event: DbEvent::FailoverStarted,
                ..
            }
        ));
        assert!(matches!(
            parse("failover-completed.json"),
            Input::Event {
                event: DbEvent::FailoverCompleted,
                ..
            }
        ));
        assert_eq!(parse("reconcile.json"), Input::Reconcile);
    }

    /// AWS's own examples name the instance `rds:my-db-instance` or bare, carry a SourceArn, and
    /// may lack an EventID; each is this database's event.
    #[test]
    fn aws_documented_rds_events_are_this_databases() {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            (DB_INSTANCE_ID, "my-db-instance"),
        ];
        let config = DbEventsConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap();
        let event = |file: &str| {
            let payload = halfhour::testing::event_fixture(
                env!("CARGO_MANIFEST_DIR"),
                &format!("db-events/{file}"),
            );
            match Input::parse(&payload, &config) {
                Ok(Input::Event { event, .. }) => event,
                other => panic!("{file}: {other:?}"),
            }
        };
        assert_eq!(
            event("aws-example-failover-completed.json"),
            DbEvent::FailoverCompleted
        );
        assert_eq!(
            event("failover-started-without-event-id.json"),
            DbEvent::FailoverStarted
        );
        assert_eq!(event("db-stopped.json"), DbEvent::Outage);
    }

    #[test]
    fn the_instance_is_named_by_arn_first() {
        let arn = "arn:aws:rds:us-east-1:123456789012:db:prod-db";
        assert!(names_instance(Some(arn), Some("rds:prod-db"), "prod-db"));
        assert!(names_instance(None, Some("rds:prod-db"), "prod-db"));
        assert!(names_instance(None, Some("prod-db"), "prod-db"));
        assert!(!names_instance(Some(arn), Some("prod-db"), "prod"));
        assert!(!names_instance(
            Some("arn:aws:rds:us-east-1:1:db:prod-db-2"),
            Some("prod-db"),
            "prod-db"
        ));
        assert!(!names_instance(None, None, "prod-db"));
    }
}

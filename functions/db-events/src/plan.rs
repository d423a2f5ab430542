//! What an RDS event means to halfhour, and what a DB's settings show: pure.

use std::time::Duration;

use halfhour::domain::{Loop, Millis, Notice};
use serde::{Deserialize, Serialize};

use crate::config::DbEventsConfig;

/// Drift is reported at most once a day per kind.
const DRIFT_RENOTIFY: Duration = Duration::from_secs(86_400);

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

/// One effect of a database decision; `apply` carries the steps out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Raise the cluster's DB-failover window until `until` (a later hold replaces it).
    OpenWindow { until: Millis },
    /// Lower a window that outlived its bound (an expired hold already counts as lowered; this
    /// tidies the record).
    LowerStaleWindow,
    /// Tell the operator of this drift, each kind at most once a day ([`drift_due`]).
    ReportDrift(Vec<Drift>),
    /// Tell the operator the database is down (once per event: the event's idempotency record).
    ReportOutage { message: String },
    /// Keep the decision record in the cluster's history.
    Remember,
}

/// What an RDS event comes to: the decision's name, the window it opens, and the steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: &'static str,
    pub window_until: Option<Millis>,
    /// Empty in observe mode: the decision is recorded, nothing is done.
    pub steps: Vec<Step>,
}

/// The event → action table.
pub fn plan_event(event: DbEvent, message: &str, now: Millis, config: &DbEventsConfig) -> Decision {
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
    let remember = (event != DbEvent::Other).then_some(Step::Remember);
    let window = window_until.map(|until| Step::OpenWindow { until });
    let report = match event {
        DbEvent::MultiAzOff => Some(Step::ReportDrift(vec![Drift::MultiAzOff])),
        DbEvent::BackupsDisabled => Some(Step::ReportDrift(vec![Drift::BackupsDisabled])),
        DbEvent::Outage => Some(Step::ReportOutage {
            message: message.to_owned(),
        }),
        _ => None,
    };
    let steps = [remember, window, report].into_iter().flatten();
    Decision {
        action,
        window_until,
        steps: steps.filter(|_| !config.common.dry_run).collect(),
    }
}

/// The reconcile's decision: report what drifted, tidy a window that outlived its bound.
pub fn plan_reconcile(drift: &[Drift], stale_window: bool, config: &DbEventsConfig) -> Decision {
    let lower = stale_window.then_some(Step::LowerStaleWindow);
    let steps = lower
        .into_iter()
        .chain([Step::ReportDrift(drift.to_vec())])
        .filter(|_| !config.common.dry_run);
    Decision {
        action: if drift.is_empty() {
            "healthy"
        } else {
            "report_drift"
        },
        window_until: None,
        steps: steps.collect(),
    }
}

/// Drift due a notice, and when each kind was last reported once it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDrift {
    pub due: Vec<Drift>,
    pub notified: Vec<(Drift, Millis)>,
}

/// Which of `drift` is due a notice, given when each kind was last reported; None when none is.
pub fn drift_due(drift: &[Drift], notified: &[(Drift, Millis)], now: Millis) -> Option<DueDrift> {
    let due: Vec<Drift> = drift
        .iter()
        .copied()
        .filter(|d| {
            !notified
                .iter()
                .any(|(k, at)| k == d && now.since(*at) < DRIFT_RENOTIFY)
        })
        .collect();
    if due.is_empty() {
        return None;
    }
    let mut record: Vec<(Drift, Millis)> = notified
        .iter()
        .filter(|(k, _)| !due.contains(k))
        .copied()
        .collect();
    record.extend(due.iter().map(|d| (*d, now)));
    Some(DueDrift {
        due,
        notified: record,
    })
}

pub fn drift_notice(due: &[Drift], config: &DbEventsConfig) -> Notice {
    let cluster = &config.common.cluster;
    Notice::new(
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
    .resource(&config.db_instance)
}

/// A stopped or failed database is an outage no window explains: the operator hears of it.
pub fn outage_notice(message: &str, config: &DbEventsConfig) -> Notice {
    let cluster = &config.common.cluster;
    Notice::new(
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
    .resource(&config.db_instance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use halfhour::domain::DbInfo;

    fn config(dry_run: bool) -> DbEventsConfig {
        let dry = dry_run.to_string();
        DbEventsConfig::from_lookup(|name| {
            match name {
                "HALFHOUR_CLUSTER" => Some("prod"),
                "HALFHOUR_TABLE" => Some("halfhour-state"),
                "HALFHOUR_DB_INSTANCE_ID" => Some("prod-db"),
                "HALFHOUR_DRY_RUN" => Some(dry.as_str()),
                _ => None,
            }
            .map(str::to_owned)
        })
        .expect("valid")
    }

    #[test]
    fn each_event_opens_reports_or_ignores_and_observe_mode_does_none_of_it() {
        let now = Millis(1_000_000);
        let config = config(false);
        let started = plan_event(DbEvent::FailoverStarted, "", now, &config);
        let until = now.plus(config.window_max);
        assert_eq!(
            (started.action, started.window_until),
            ("open_window", Some(until))
        );
        assert_eq!(
            started.steps,
            vec![Step::Remember, Step::OpenWindow { until }]
        );
        let down = plan_event(DbEvent::Outage, "stopped", now, &config);
        assert_eq!(
            down.steps,
            vec![
                Step::Remember,
                Step::ReportOutage {
                    message: "stopped".into()
                }
            ]
        );
        let other = plan_event(DbEvent::Other, "", now, &config);
        assert_eq!((other.action, other.steps), ("ignore", vec![]));
        let observed = plan_event(DbEvent::FailoverStarted, "", now, &self::config(true));
        assert_eq!(
            (
                observed.action,
                observed.window_until.is_some(),
                observed.steps
            ),
            ("open_window", true, vec![])
        );
    }

    #[test]
    fn drift_is_due_once_a_day_per_kind() {
        let now = Millis(100_000_000);
        let drift = [Drift::MultiAzOff, Drift::BackupsDisabled];
        let recently = [(Drift::MultiAzOff, Millis(now.0 - 3_600_000))];
        let due = drift_due(&drift, &recently, now).expect("backups are due");
        assert_eq!(due.due, vec![Drift::BackupsDisabled]);
        assert_eq!(
            due.notified,
            vec![recently[0], (Drift::BackupsDisabled, now)]
        );
        let all_recent = due.notified;
        assert_eq!(drift_due(&drift, &all_recent, now), None);
        let a_day_later = Millis(now.0 + 86_400_000);
        assert_eq!(
            drift_due(&drift, &all_recent, a_day_later).map(|d| d.due),
            Some(drift.to_vec())
        );
        assert_eq!(drift_due(&[], &[], now), None);
    }

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

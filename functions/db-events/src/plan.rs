//! What an RDS event means to halfhour, and what a DB's settings show: pure.

use serde::{Deserialize, Serialize};

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

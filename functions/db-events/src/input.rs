//! What the database loop is asked: an RDS event about the cluster's DB, or `reconcile`.

use halfhour::Error;
use halfhour::envelope::{DbInstanceEvent, Envelope, Event};
use serde_json::Value;

use crate::config::DbEventsConfig;
use crate::plan::{DbEvent, classify, names_instance};

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
        let DbInstanceEvent { id, detail } = match Envelope::recognise(payload, cluster)? {
            Envelope::Command(command) if command.action == "reconcile" => {
                return Ok(Input::Reconcile);
            }
            Envelope::Event(Event::DbInstance(event)) => event,
            other => {
                return Err(
                    other.not_handled("an RDS DB Instance Event or {\"action\": \"reconcile\"}")
                );
            }
        };
        if !names_instance(
            detail.source_arn.as_deref(),
            detail.source_identifier.as_deref(),
            &config.db_instance,
        ) {
            return Err(Error::bad_event(format!(
                "DB instance `{}` is not cluster {cluster}'s database `{}`",
                detail
                    .source_arn
                    .or(detail.source_identifier)
                    .unwrap_or_else(|| "(none named)".into()),
                config.db_instance
            )));
        }
        Ok(Input::Event {
            id,
            event: classify(&detail.event_id, &detail.event_categories, &detail.message),
            message: detail.message,
        })
    }
}

#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::config::DB_INSTANCE_ID;

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

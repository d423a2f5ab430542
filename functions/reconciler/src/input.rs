//! What the reconciler is asked: the schedule's tick, or an operator's switch.

use halfhour::Error;
use halfhour::envelope::{Envelope, Event};
use serde_json::Value;

use crate::config::ReconcilerConfig;

/// What the reconciler was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The schedule's tick, or a manual `reconcile`.
    Tick,
    /// The kill switch, with the operator's reason (kept in the flag and the notification).
    Pause {
        reason: String,
    },
    Resume,
    /// Report the cluster's switches and every loop's state; change nothing.
    Status,
}

/// The EventBridge schedule's event, or a manual `{"action": "reconcile"|"pause"|"resume"|"status"}`.
pub fn parse(payload: &Value, config: &ReconcilerConfig) -> Result<Request, Error> {
    const EXPECTED: &str = "an EventBridge Scheduled Event or {\"action\": \"reconcile\"|\"pause\"|\"resume\"|\"status\"}";
    let command = match Envelope::recognise(payload, &config.common.cluster)? {
        Envelope::Event(Event::Schedule) => return Ok(Request::Tick),
        Envelope::Command(command) => command,
        other => return Err(other.not_handled(EXPECTED)),
    };
    let reason = command.args.get("reason").cloned();
    let unknown: Vec<&String> = command
        .args
        .keys()
        .filter(|k| !(command.action == "pause" && k.as_str() == "reason"))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::bad_event(format!(
            "unknown fields for `{}`: {unknown:?}",
            command.action
        )));
    }
    match command.action.as_str() {
        "reconcile" => Ok(Request::Tick),
        "pause" => match reason {
            None => Ok(Request::Pause {
                reason: "paused by an operator".into(),
            }),
            Some(Value::String(reason)) if !reason.trim().is_empty() => {
                Ok(Request::Pause { reason })
            }
            Some(other) => Err(Error::bad_event(format!(
                "`reason` must be a non-empty string, not {other}"
            ))),
        },
        "resume" => Ok(Request::Resume),
        "status" => Ok(Request::Status),
        _ => Err(Envelope::Command(command).not_handled(EXPECTED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FUNCTIONS;
    use serde_json::json;

    fn config() -> ReconcilerConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            (FUNCTIONS, "scaler, lifecycle,,failover"),
        ];
        ReconcilerConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    #[test]
    fn functions_are_listed_once_each() {
        assert_eq!(config().functions, vec!["scaler", "lifecycle", "failover"]);
    }

    #[test]
    fn the_schedule_and_the_manual_tick_are_accepted_and_nothing_else() {
        let config = config();
        let scheduled = halfhour::testing::event_fixture(
            env!("CARGO_MANIFEST_DIR"),
            "reconciler/scheduled.json",
        );
        assert_eq!(parse(&scheduled, &config).unwrap(), Request::Tick);
        assert_eq!(
            parse(&json!({"action": "reconcile"}), &config).unwrap(),
            Request::Tick
        );
        for (file, expected) in [
            (
                "reconciler/pause.json",
                Request::Pause {
                    reason: "the health check is wrong".into(),
                },
            ),
            ("reconciler/resume.json", Request::Resume),
            ("reconciler/status.json", Request::Status),
        ] {
            let payload = halfhour::testing::event_fixture(env!("CARGO_MANIFEST_DIR"), file);
            assert_eq!(parse(&payload, &config).unwrap(), expected, "{file}");
        }
        assert!(parse(&json!({"action": "pause", "reason": 3}), &config).is_err());
        assert!(parse(&json!({"action": "resume", "reason": "x"}), &config).is_err());
        assert!(matches!(
            parse(&json!({"action": "reconcile", "cluster": "x"}), &config),
            Err(Error::WrongCluster { .. })
        ));
        assert!(parse(&json!({"action": "bake"}), &config).is_err());
        assert!(
            parse(
                &json!({"detail-type": "Scheduled Event", "source": "evil"}),
                &config
            )
            .is_err()
        );
    }
}

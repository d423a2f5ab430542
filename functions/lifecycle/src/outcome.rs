//! What one lifecycle action came to: the function's answer, and the result its idempotency
//! record replays to a duplicate delivery.

use halfhour::domain::InstanceId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::{LaunchDecision, TerminateDecision};

/// What one lifecycle action came to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "RecordedOutcome")]
pub struct ActionOutcome {
    pub instance_id: InstanceId,
    pub transition: String,
    pub decision: Decision,
    pub dry_run: bool,
}

/// The decision for a launch or a termination, in its plain form (`"Continue"`,
/// `{"Wait": {"reason": "Booting"}}`): the outcome's `transition` says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Decision {
    Launch(LaunchDecision),
    Terminate(TerminateDecision),
}

/// An outcome as its idempotency record holds it: the decision is read by its transition, since
/// both kinds share names (`Continue`, `NotWaiting`, `FailOpen`).
#[derive(Deserialize)]
struct RecordedOutcome {
    instance_id: String,
    transition: String,
    decision: Value,
    dry_run: bool,
}

impl TryFrom<RecordedOutcome> for ActionOutcome {
    type Error = String;

    fn try_from(recorded: RecordedOutcome) -> Result<Self, String> {
        let unreadable = |e: serde_json::Error| format!("a recorded decision: {e}");
        let decision = match recorded.transition.as_str() {
            "Launching" => {
                Decision::Launch(serde_json::from_value(recorded.decision).map_err(unreadable)?)
            }
            "Terminating" => {
                Decision::Terminate(serde_json::from_value(recorded.decision).map_err(unreadable)?)
            }
            other => {
                return Err(format!(
                    "a recorded outcome of an unknown transition {other:?}"
                ));
            }
        };
        Ok(ActionOutcome {
            instance_id: recorded.instance_id.into(),
            transition: recorded.transition,
            decision,
            dry_run: recorded.dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(outcome: &ActionOutcome) -> Result<ActionOutcome, serde_json::Error> {
        serde_json::from_value(serde_json::to_value(outcome)?)
    }

    #[test]
    fn a_replayed_outcome_keeps_its_kind_of_decision() {
        for (transition, decision) in [
            ("Launching", Decision::Launch(LaunchDecision::Continue)),
            (
                "Terminating",
                Decision::Terminate(TerminateDecision::Continue),
            ),
            (
                "Terminating",
                Decision::Terminate(TerminateDecision::NotWaiting),
            ),
        ] {
            let outcome = ActionOutcome {
                instance_id: "i-0abc".into(),
                transition: transition.into(),
                decision,
                dry_run: false,
            };
            assert_eq!(
                serde_json::to_value(&outcome).unwrap()["decision"],
                serde_json::json!(match decision {
                    Decision::Launch(d) => serde_json::to_value(d).unwrap(),
                    Decision::Terminate(d) => serde_json::to_value(d).unwrap(),
                })
            );
            assert_eq!(replayed(&outcome).unwrap(), outcome);
        }
    }

    #[test]
    fn a_record_of_an_unknown_transition_or_decision_is_refused() {
        let record = |transition: &str, decision: Value| {
            serde_json::from_value::<ActionOutcome>(serde_json::json!({
                "instance_id": "i-0abc", "transition": transition, "decision": decision, "dry_run": false
            }))
        };
        assert!(record("Launching", serde_json::json!("Continue")).is_ok());
        assert!(record("Warming", serde_json::json!("Continue")).is_err());
        assert!(record("Terminating", serde_json::json!("IntoWarmPool")).is_err());
    }
}

//! What the scaler is asked: a scaling alarm's transition, or `reconcile`.

use halfhour::Error;
use halfhour::domain::AlarmTransition;
use halfhour::envelope::{Envelope, Event};
use serde_json::Value;

use crate::config::ScalerConfig;

/// What the scaler was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A scaling alarm changed state (its action, EventBridge or SNS).
    Alarm(AlarmTransition),
    /// The reconciler's tick: re-evaluate every alarm still in ALARM.
    Reconcile,
}

impl Input {
    pub fn parse(payload: &Value, config: &ScalerConfig) -> Result<Input, Error> {
        match Envelope::recognise(payload, &config.common.cluster)? {
            Envelope::Command(command) if command.action == "reconcile" => Ok(Input::Reconcile),
            Envelope::Event(Event::Alarm(alarm)) => Ok(Input::Alarm(alarm)),
            other => {
                Err(other
                    .not_handled("a CloudWatch alarm state change or {\"action\": \"reconcile\"}"))
            }
        }
    }
}

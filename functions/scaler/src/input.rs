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

#[cfg(test)]
mod tests {
    use halfhour::domain::AlarmState;

    use super::*;

    fn fixture(name: &str) -> Value {
        halfhour::testing::event_fixture(env!("CARGO_MANIFEST_DIR"), &format!("scaler/{name}"))
    }

    /// Every shipped event fixture parses to the transition it describes.
    #[test]
    fn event_fixtures_parse() {
        let cases = [
            (
                "alarm-action.json",
                "prod-cpu-high",
                "2026-11-27T13:47:30.123+0000",
            ),
            (
                "eventbridge-alarm.json",
                "prod-cpu-low",
                "2026-11-27T14:02:44.215+0000",
            ),
            (
                "sns-alarm.json",
                "prod-cpu-high",
                "2026-11-27T15:10:05.870+0000",
            ),
        ];
        let config = ScalerConfig::from_lookup(halfhour::testing::lookup(&[
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_ASG_NAME", "prod-web"),
            (
                "HALFHOUR_SCALING_ALARMS",
                "prod-cpu-high=+2,prod-cpu-low=-1",
            ),
        ]))
        .unwrap();
        for (file, alarm, at) in cases {
            let Input::Alarm(t) = Input::parse(&fixture(file), &config).unwrap() else {
                panic!("{file} is not an alarm");
            };
            assert_eq!(t.alarm_name, alarm, "{file}");
            assert_eq!(t.state, AlarmState::Alarm, "{file}");
            assert_eq!(t.previous, Some(AlarmState::Ok), "{file}");
            assert_eq!(
                Some(t.changed_at),
                halfhour::domain::parse_timestamp(at).ok(),
                "{file}"
            );
        }
        assert_eq!(
            Input::parse(&fixture("reconcile.json"), &config).unwrap(),
            Input::Reconcile
        );
    }
}

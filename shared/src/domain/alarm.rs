//! CloudWatch alarm state changes, from each shape AWS delivers them in: the alarm's own
//! Lambda action, the EventBridge `CloudWatch Alarm State Change` event, and an SNS
//! notification. All parse to one [`AlarmTransition`].

use serde::Deserialize;
use serde_json::Value;

use super::{Millis, parse_timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "OK" => Ok(AlarmState::Ok),
            "ALARM" => Ok(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Ok(AlarmState::InsufficientData),
            other => Err(format!("unknown alarm state {other:?}")),
        }
    }
}

/// An alarm's current state, as CloudWatch reports it now (the reconciler's view).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlarmStatus {
    pub name: String,
    pub state: AlarmState,
    pub since: Millis,
}

/// An alarm entered `state` at `changed_at`; the pair identifies the transition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlarmTransition {
    pub alarm_name: String,
    pub state: AlarmState,
    pub previous: Option<AlarmState>,
    pub changed_at: Millis,
}

impl AlarmTransition {
    /// The key that makes duplicate deliveries of one transition idempotent.
    pub fn event_key(&self) -> String {
        format!("{}@{}", self.alarm_name, self.changed_at.0)
    }

    /// Recognise an alarm transition in any of its delivery shapes.
    pub fn from_event(event: &Value) -> Result<Self, String> {
        if let Some(records) = event.get("Records") {
            return Self::from_sns(records);
        }
        if let Some(data) = event.get("alarmData") {
            return Self::from_alarm_data(data);
        }
        if event.get("detail-type").and_then(Value::as_str) == Some("CloudWatch Alarm State Change")
        {
            let detail = event
                .get("detail")
                .ok_or("EventBridge alarm event without detail")?;
            return Self::from_alarm_data(detail);
        }
        Err("not a CloudWatch alarm state change (no alarmData, detail or SNS Records)".into())
    }

    fn from_alarm_data(data: &Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            alarm_name: String,
            state: State,
            previous_state: Option<State>,
        }
        #[derive(Deserialize)]
        struct State {
            value: String,
            timestamp: String,
        }
        let data = Data::deserialize(data).map_err(|e| format!("malformed alarm data: {e}"))?;
        Ok(AlarmTransition {
            state: AlarmState::parse(&data.state.value)?,
            previous: data
                .previous_state
                .map(|p| AlarmState::parse(&p.value))
                .transpose()?,
            changed_at: parse_timestamp(&data.state.timestamp)?,
            alarm_name: non_empty(data.alarm_name)?,
        })
    }

    fn from_sns(records: &Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Record {
            #[serde(rename = "Sns")]
            sns: Sns,
        }
        #[derive(Deserialize)]
        struct Sns {
            #[serde(rename = "Message")]
            message: String,
        }
        #[derive(Deserialize)]
        struct Notification {
            #[serde(rename = "AlarmName")]
            alarm_name: String,
            #[serde(rename = "NewStateValue")]
            new_state: String,
            #[serde(rename = "OldStateValue")]
            old_state: Option<String>,
            #[serde(rename = "StateChangeTime")]
            changed_at: String,
        }
        let records = Vec::<Record>::deserialize(records)
            .map_err(|e| format!("malformed SNS records: {e}"))?;
        let [record] = records.as_slice() else {
            return Err(format!("expected one SNS record, got {}", records.len()));
        };
        let n: Notification = serde_json::from_str(&record.sns.message)
            .map_err(|e| format!("SNS message is not an alarm notification: {e}"))?;
        Ok(AlarmTransition {
            state: AlarmState::parse(&n.new_state)?,
            previous: n.old_state.as_deref().map(AlarmState::parse).transpose()?,
            changed_at: parse_timestamp(&n.changed_at)?,
            alarm_name: non_empty(n.alarm_name)?,
        })
    }
}

fn non_empty(name: String) -> Result<String, String> {
    if name.trim().is_empty() {
        return Err("alarm name is empty".into());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_in_every_cloudwatch_form() {
        use crate::domain::parse_timestamp;
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok(Millis(0)));
        assert_eq!(
            parse_timestamp("2026-11-27T13:47:30.123+0000"),
            Ok(Millis(1_795_787_250_123))
        );
        assert_eq!(
            parse_timestamp("2026-11-27T14:47:30.123+01:00"),
            Ok(Millis(1_795_787_250_123))
        );
        assert!(parse_timestamp("2026-13-01T00:00:00Z").is_err());
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn eventbridge_shape() {
        let event = json!({"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "detail": {"alarmName": "cpu-high", "state": {"value": "ALARM", "timestamp": "2026-11-27T13:47:30.123+0000"},
                       "previousState": {"value": "OK", "timestamp": "2026-11-27T13:00:00.000+0000"}}});
        let t = AlarmTransition::from_event(&event).unwrap();
        assert_eq!(
            (t.alarm_name.as_str(), t.state, t.previous),
            ("cpu-high", AlarmState::Alarm, Some(AlarmState::Ok))
        );
        assert_eq!(t.event_key(), "cpu-high@1795787250123");
    }

    #[test]
    fn sns_shape_needs_exactly_one_record() {
        let message =
            json!({"AlarmName": "cpu-low", "NewStateValue": "OK", "OldStateValue": "ALARM",
                             "StateChangeTime": "2026-11-27T13:47:30.123+0000"})
            .to_string();
        let event = json!({"Records": [{"Sns": {"Message": message}}]});
        assert_eq!(
            AlarmTransition::from_event(&event).unwrap().state,
            AlarmState::Ok
        );
        assert!(AlarmTransition::from_event(&json!({"Records": []})).is_err());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(
            AlarmTransition::from_event(&json!({"hello": 1}))
                .unwrap_err()
                .contains("not a CloudWatch alarm")
        );
        let bad_state = json!({"alarmData": {"alarmName": "a", "state": {"value": "MAYBE", "timestamp": "2026-01-01T00:00:00Z"}}});
        assert!(
            AlarmTransition::from_event(&bad_state)
                .unwrap_err()
                .contains("unknown alarm state")
        );
    }
}

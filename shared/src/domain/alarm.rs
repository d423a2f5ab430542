//! CloudWatch alarm states and transitions. Each shape AWS delivers a transition in (the
//! alarm's own Lambda action, EventBridge, SNS) becomes one [`AlarmTransition`] in
//! [`crate::envelope`].

use super::Millis;

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

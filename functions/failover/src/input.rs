//! What the failover loop is asked: the site-health alarm's transition (look now), or an
//! operator's command. The stack's custom resources are answered before any input.

use halfhour::Error;
use halfhour::envelope::{Envelope, Event};
use serde::Serialize;
use serde_json::Value;

use crate::config::FailoverConfig;

/// What the function was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Input {
    /// A health alarm changed state, or the reconciler's tick: look and decide.
    Evaluate,
    PinStatic,
    /// Hold DNS on the load balancer whatever the health check says.
    PinPrimary,
    Unpin,
    /// Report, change nothing.
    Status,
    /// Publish the static page (after a deploy).
    Publish,
}

impl Input {
    /// A custom-resource request is not an `Input`: [`handle`] answers it before.
    pub fn parse(payload: &Value, config: &FailoverConfig) -> Result<Input, Error> {
        Self::of(Envelope::recognise(payload, &config.common.cluster)?)
    }

    pub(crate) fn of(envelope: Envelope) -> Result<Input, Error> {
        const EXPECTED: &str = "the site-health alarm's state change or {\"action\": \"pin-static\"|\"pin-primary\"|\"unpin\"|\"status\"|\"publish\"|\"reconcile\"}";
        let command = match envelope {
            // The alarm says "look now"; the decision reads the site's health check itself.
            Envelope::Event(Event::Alarm(_)) => return Ok(Input::Evaluate),
            Envelope::Command(command) => command,
            other => return Err(other.not_handled(EXPECTED)),
        };
        if !command.args.is_empty() {
            return Err(Error::bad_event(format!(
                "unknown fields for `{}`: {:?}",
                command.action,
                command.args.keys().collect::<Vec<_>>()
            )));
        }
        match command.action.as_str() {
            "reconcile" => Ok(Input::Evaluate),
            "pin-static" => Ok(Input::PinStatic),
            "pin-primary" => Ok(Input::PinPrimary),
            "unpin" => Ok(Input::Unpin),
            "status" => Ok(Input::Status),
            "publish" => Ok(Input::Publish),
            _ => Err(Envelope::Command(command).not_handled(EXPECTED)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::next_steps;
    use crate::plan::Reason;

    fn config() -> FailoverConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_HOSTED_ZONE_ID", "Z1"),
            ("HALFHOUR_RECORD_NAME", "www.example.com"),
            ("HALFHOUR_SITE_HEALTH_CHECK_ID", "site"),
            ("HALFHOUR_GATE_HEALTH_CHECK_ID", "gate"),
            (
                "HALFHOUR_STATIC_SITE_URL",
                "http://www.example.com.s3-website-us-east-1.amazonaws.com/",
            ),
        ];
        FailoverConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    /// A command a notification tells the operator to send is one this function takes.
    #[test]
    fn every_command_a_notification_suggests_is_accepted() {
        let reasons = [
            Reason::Healthy,
            Reason::FailedOver,
            Reason::DbWindowGrace,
            Reason::DbGraceHolding,
            Reason::GraceOver,
            Reason::HoldDown { remaining_s: 60 },
            Reason::SiteStillDown,
            Reason::FailedBack,
            Reason::FlipBudgetSpent,
            Reason::Pinned,
            Reason::PinnedPrimary,
            Reason::Unpinned,
            Reason::Paused,
        ];
        let mut suggested = 0;
        for step in reasons.into_iter().flat_map(next_steps) {
            for (at, _) in step.match_indices("{\"action\"") {
                let end = at + step[at..].find('}').unwrap() + 1;
                let command: Value = serde_json::from_str(&step[at..end]).unwrap();
                Input::parse(&command, &config()).unwrap_or_else(|e| panic!("{step}: {e}"));
                suggested += 1;
            }
        }
        assert!(suggested > 0, "no notification suggests a command");
    }

    /// Every shipped event fixture parses to the input it stands for.
    #[test]
    fn event_fixtures_parse() {
        let config = config();
        let cases = [
            ("site-health-alarm.json", Input::Evaluate),
            ("reconcile.json", Input::Evaluate),
            ("pin-static.json", Input::PinStatic),
            ("pin-primary.json", Input::PinPrimary),
            ("unpin.json", Input::Unpin),
            ("status.json", Input::Status),
            ("publish.json", Input::Publish),
        ];
        for (file, expected) in cases {
            let path = format!(
                "{}/../../events/failover/{file}",
                env!("CARGO_MANIFEST_DIR")
            );
            let payload: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(Input::parse(&payload, &config).unwrap(), expected, "{file}");
        }
    }
}

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

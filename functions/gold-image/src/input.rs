//! What the gold-image loop is asked: a bake, a cancel or `reconcile`, or the AMI state
//! change that tells a bake its image is ready.

use halfhour::Error;
use halfhour::envelope::{Envelope, Event};
use serde::Deserialize;
use serde_json::Value;

use crate::config::GoldImageConfig;

/// What the function was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Manual or scheduled: start a bake.
    Bake {
        instance_id: Option<String>,
        reason: String,
        dry_run: bool,
    },
    /// EventBridge `EC2 AMI State Change`.
    ImageStateChange { image_id: String, state: String },
    /// The reconciler's tick.
    Reconcile,
    /// Stop the running bake before its roll-out: reference back in service, flag lowered.
    Cancel,
}

impl Input {
    pub fn parse(payload: &Value, config: &GoldImageConfig) -> Result<Input, Error> {
        const EXPECTED: &str =
            "{\"action\": \"bake\"|\"cancel\"|\"reconcile\"} or an EC2 AMI State Change event";
        let command = match Envelope::recognise(payload, &config.common.cluster)? {
            Envelope::Event(Event::ImageState(change)) => {
                return Ok(Input::ImageStateChange {
                    image_id: change.image_id,
                    state: change.state,
                });
            }
            Envelope::Command(command) => command,
            other => return Err(other.not_handled(EXPECTED)),
        };
        match command.action.as_str() {
            "bake" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Args {
                    instance_id: Option<String>,
                    reason: Option<String>,
                    dry_run: Option<bool>,
                }
                let args = Args::deserialize(Value::Object(command.args))
                    .map_err(|e| Error::bad_event(format!("malformed bake request: {e}")))?;
                if let Some(id) = &args.instance_id
                    && !id.starts_with("i-")
                {
                    return Err(Error::bad_event(format!("`{id}` is not an instance id")));
                }
                Ok(Input::Bake {
                    instance_id: args.instance_id,
                    reason: args.reason.unwrap_or_else(|| "manual".into()),
                    dry_run: args.dry_run.unwrap_or(false),
                })
            }
            "reconcile" => Ok(Input::Reconcile),
            "cancel" if command.args.is_empty() => Ok(Input::Cancel),
            "cancel" => Err(Error::bad_event(format!(
                "unknown fields for `cancel`: {:?}",
                command.args.keys().collect::<Vec<_>>()
            ))),
            _ => Err(Envelope::Command(command).not_handled(EXPECTED)),
        }
    }
}

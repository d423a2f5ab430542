//! What the gold-image loop is asked: a bake, a cancel or `reconcile`, or the AMI state
//! change that tells a bake its image is ready.

use halfhour::Error;
use halfhour::domain::{ImageId, InstanceId};
use halfhour::envelope::{Envelope, Event};
use serde::Deserialize;
use serde_json::Value;

use crate::config::GoldImageConfig;

/// What the function was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Manual or scheduled: start a bake.
    Bake {
        instance_id: Option<InstanceId>,
        reason: String,
        dry_run: bool,
    },
    /// EventBridge `EC2 AMI State Change`.
    ImageStateChange { image_id: ImageId, state: String },
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
                let instance_id = args
                    .instance_id
                    .as_deref()
                    .map(InstanceId::parse)
                    .transpose()
                    .map_err(Error::BadEvent)?;
                Ok(Input::Bake {
                    instance_id,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> GoldImageConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_ASG_NAME", "web"),
        ];
        GoldImageConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    fn fixture(name: &str) -> Value {
        halfhour::testing::event_fixture(env!("CARGO_MANIFEST_DIR"), &format!("gold-image/{name}"))
    }

    /// Every shipped event fixture parses to the input it stands for.
    #[test]
    fn event_fixtures_parse() {
        let config = config();
        assert_eq!(
            Input::parse(&fixture("bake.json"), &config).unwrap(),
            Input::Bake {
                instance_id: None,
                reason: "monthly security updates".into(),
                dry_run: false
            }
        );
        assert!(matches!(
            Input::parse(&fixture("bake-from-instance.json"), &config).unwrap(),
            Input::Bake { instance_id: Some(ref id), dry_run: true, .. } if id == "i-0abc12de34f567890"
        ));
        assert_eq!(
            Input::parse(&fixture("ami-available.json"), &config).unwrap(),
            Input::ImageStateChange {
                image_id: "ami-0123456789abcdef0".into(),
                state: "available".into()
            }
        );
        assert!(matches!(
            Input::parse(&fixture("ami-failed.json"), &config).unwrap(),
            Input::ImageStateChange { ref state, .. } if state == "failed"
        ));
        assert_eq!(
            Input::parse(&fixture("reconcile.json"), &config).unwrap(),
            Input::Reconcile
        );
        assert_eq!(
            Input::parse(&fixture("cancel.json"), &config).unwrap(),
            Input::Cancel
        );
    }

    #[test]
    fn there_is_no_way_to_ask_for_no_reboot() {
        let err =
            Input::parse(&json!({"action": "bake", "no_reboot": true}), &config()).unwrap_err();
        assert_eq!(err.kind(), halfhour::ErrorKind::BadEvent);
    }

    /// An instance or image id that is not one is bad input: the bake's `instance_id`, the AMI
    /// event's `ImageId` (AWS gives a prefix and 8 or 17 hex digits).
    #[test]
    fn a_mangled_id_is_bad_input() {
        let config = config();
        for id in ["i-1234", "i-zzzzzzzz", "ami-1234567890abcdef0"] {
            let bake = json!({"action": "bake", "instance_id": id});
            let err = Input::parse(&bake, &config).unwrap_err();
            assert_eq!(err.kind(), halfhour::ErrorKind::BadEvent, "{id}: {err}");
        }
        for id in ["ami-", "ami-0123", "i-0123456789abcdef0"] {
            let mut event = fixture("ami-available.json");
            event["detail"]["ImageId"] = json!(id);
            let err = Input::parse(&event, &config).unwrap_err();
            assert_eq!(err.kind(), halfhour::ErrorKind::BadEvent, "{id}: {err}");
        }
    }
}

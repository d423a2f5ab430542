//! What the lifecycle loop is asked: a lifecycle action of the cluster's group on one of
//! halfhour's hooks (EventBridge or SNS), Auto Scaling's test message, or `reconcile`.

use halfhour::Error;
use halfhour::domain::{InstanceId, LifecycleAction, LifecycleTransition, Millis, WarmPoolMove};
use halfhour::envelope::{Envelope, Event};
use serde_json::Value;

use crate::config::LifecycleConfig;

/// What the function was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A lifecycle action event (EventBridge, or SNS-wrapped).
    Action {
        action: LifecycleAction,
        started_at: Option<Millis>,
    },
    /// `autoscaling:TEST_NOTIFICATION`, sent when a hook is created: nothing to do.
    TestNotification,
    Reconcile,
}

impl Input {
    pub fn parse(payload: &Value, config: &LifecycleConfig) -> Result<Input, Error> {
        let cluster = &config.common.cluster;
        let fields = match Envelope::recognise(payload, cluster)? {
            Envelope::Command(command) if command.action == "reconcile" => {
                return Ok(Input::Reconcile);
            }
            Envelope::Event(Event::LifecycleTest) => return Ok(Input::TestNotification),
            Envelope::Event(Event::LifecycleAction(fields)) => fields,
            other => {
                return Err(other.not_handled(
                    "an EC2 Instance-launch/terminate Lifecycle Action (EventBridge or SNS) or {\"action\": \"reconcile\"}",
                ));
            }
        };
        let transition =
            LifecycleTransition::parse(&fields.lifecycle_transition).ok_or_else(|| {
                Error::bad_event(format!(
                    "unknown lifecycle transition `{}`",
                    fields.lifecycle_transition
                ))
            })?;
        if fields.auto_scaling_group_name != config.asg_name {
            return Err(Error::bad_event(format!(
                "group `{}` is not cluster {cluster}'s group `{}`",
                fields.auto_scaling_group_name, config.asg_name
            )));
        }
        let expected_hook = match transition {
            LifecycleTransition::Launching => &config.launch_hook,
            LifecycleTransition::Terminating => &config.terminate_hook,
        };
        if &fields.lifecycle_hook_name != expected_hook {
            return Err(Error::bad_event(format!(
                "hook `{}` is not halfhour's {transition:?} hook `{expected_hook}`",
                fields.lifecycle_hook_name
            )));
        }
        let instance_id = InstanceId::parse(&fields.ec2_instance_id).map_err(Error::BadEvent)?;
        let warm_pool =
            WarmPoolMove::parse(fields.origin.as_deref(), fields.destination.as_deref())
                .map_err(Error::BadEvent)?;
        Ok(Input::Action {
            action: LifecycleAction {
                group: fields.auto_scaling_group_name.into(),
                hook: fields.lifecycle_hook_name,
                instance_id,
                token: fields.lifecycle_action_token,
                transition,
                warm_pool,
            },
            started_at: fields.started_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LifecycleConfig {
        let vars = [
            ("HALFHOUR_TABLE", "t"),
            ("HALFHOUR_CLUSTER", "prod"),
            ("HALFHOUR_ASG_NAME", "prod-web"),
        ];
        LifecycleConfig::from_lookup(halfhour::testing::lookup(&vars)).unwrap()
    }

    fn fixture(name: &str) -> Value {
        halfhour::testing::event_fixture(env!("CARGO_MANIFEST_DIR"), &format!("lifecycle/{name}"))
    }

    /// Every shipped event fixture parses to the input it stands for.
    #[test]
    fn event_fixtures_parse() {
        let config = config();
        let launch = |file| match Input::parse(&fixture(file), &config).unwrap() {
            Input::Action { action, started_at } => (action, started_at),
            other => panic!("{file}: {other:?}"),
        };
        let (eventbridge, at) = launch("launch.json");
        let (sns, sns_at) = launch("sns-launch.json");
        assert_eq!(eventbridge, sns, "both shapes carry the same action");
        assert_eq!(eventbridge.transition, LifecycleTransition::Launching);
        assert_eq!(
            eventbridge.token.as_deref(),
            Some("71514b9d-6a40-4b26-8523-05e7ee35fa40")
        );
        assert_eq!(
            at,
            halfhour::domain::parse_timestamp("2026-11-27T14:00:00Z").ok()
        );
        assert_eq!(
            sns_at,
            halfhour::domain::parse_timestamp("2026-11-27T14:00:00.387Z").ok()
        );
        assert_eq!(
            launch("terminate.json").0.transition,
            LifecycleTransition::Terminating
        );
        assert_eq!(
            launch("warm-pool-launch.json").0.warm_pool,
            WarmPoolMove::IntoPool,
            "AWS's warm-pool example: Origin EC2, Destination WarmPool"
        );
        assert_eq!(eventbridge.warm_pool, WarmPoolMove::None);
        assert_eq!(
            Input::parse(&fixture("test-notification.json"), &config).unwrap(),
            Input::TestNotification
        );
        assert_eq!(
            Input::parse(&fixture("reconcile.json"), &config).unwrap(),
            Input::Reconcile
        );
    }

    /// An instance id that is not one (AWS gives `i-` and 8 or 17 hex digits) is bad input.
    #[test]
    fn a_mangled_instance_id_is_bad_input() {
        let config = config();
        for id in ["i-1234", "i-zzzzzzzz", "ami-1234567890abcdef0", ""] {
            let mut event = fixture("launch.json");
            event["detail"]["EC2InstanceId"] = id.into();
            let err = Input::parse(&event, &config).unwrap_err();
            assert_eq!(err.kind(), halfhour::ErrorKind::BadEvent, "{id}: {err}");
        }
    }
}

//! What the lifecycle loop is asked: a lifecycle action of the cluster's group on one of
//! halfhour's hooks (EventBridge or SNS), Auto Scaling's test message, or `reconcile`.

use halfhour::Error;
use halfhour::domain::{LifecycleAction, LifecycleTransition, Millis, WarmPoolMove};
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
        if !fields.ec2_instance_id.starts_with("i-") {
            return Err(Error::bad_event(format!(
                "`{}` is not an instance id",
                fields.ec2_instance_id
            )));
        }
        let warm_pool =
            WarmPoolMove::parse(fields.origin.as_deref(), fields.destination.as_deref())
                .map_err(Error::BadEvent)?;
        Ok(Input::Action {
            action: LifecycleAction {
                group: fields.auto_scaling_group_name,
                hook: fields.lifecycle_hook_name,
                instance_id: fields.ec2_instance_id,
                token: fields.lifecycle_action_token,
                transition,
                warm_pool,
            },
            started_at: fields.started_at,
        })
    }
}

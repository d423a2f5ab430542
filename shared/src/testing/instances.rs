//! The instances' side of the fake cluster: the lifecycle actions that hold them, EC2's status
//! checks, the application's answer to the health probe and the load balancer's registrations.
//! Each mutating call is recorded.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::FakeCluster;
use crate::domain::{
    GroupInstance, InstanceId, InstanceStatus, LifecycleAction, LifecycleResult, LifecycleState,
    LifecycleTransition, ProbeOutcome, StatusChecks,
};
use crate::error::Result;
use crate::ports::{HealthProbe, InstanceStatuses, LifecycleActions, TargetGroups};

#[derive(Default)]
pub(super) struct Instances {
    /// EC2's status of each instance (running, checks passed until set otherwise).
    statuses: BTreeMap<InstanceId, InstanceStatus>,
    /// What the application answers the probe on each instance (Pending until set).
    probes: BTreeMap<InstanceId, ProbeOutcome>,
}

impl FakeCluster {
    /// A new instance of the group, held by the launch hook (`Pending:Wait`), running with its
    /// status checks passed.
    pub fn launch_waiting(&self, id: &str) {
        self.with(|c| {
            let group = c.group.as_mut().expect("the fake cluster has a group");
            group.instances.push(GroupInstance {
                id: id.into(),
                state: LifecycleState::PendingWait,
                healthy: true,
                protected_from_scale_in: false,
            });
            group.desired += 1;
        });
    }

    /// What the application on `id` answers the health probe.
    pub fn set_probe(&self, id: &str, outcome: ProbeOutcome) {
        self.with(|c| c.instances.probes.insert(id.into(), outcome));
    }

    /// The lifecycle state of the group's instance `id` now, if it is in the group.
    pub fn state_of(&self, id: &str) -> Option<LifecycleState> {
        self.with(|c| {
            let group = c.group.as_ref()?;
            Some(group.instances.iter().find(|i| i.id == *id)?.state.clone())
        })
    }
}

#[async_trait]
impl LifecycleActions for FakeCluster {
    /// CONTINUE puts a launching instance in service, ABANDON terminates it; either ends a
    /// terminating one. No action held for the instance is `Ok(false)`, as the adapter reads
    /// AWS's "No active Lifecycle Action found"
    /// (<https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html>).
    async fn complete(&self, action: &LifecycleAction, result: LifecycleResult) -> Result<bool> {
        self.with(|c| {
            let Some(group) = c.group.as_mut().filter(|g| g.name == action.group) else {
                return Ok(false);
            };
            let waiting = match action.transition {
                LifecycleTransition::Launching => LifecycleState::PendingWait,
                LifecycleTransition::Terminating => LifecycleState::TerminatingWait,
            };
            let Some(at) = group
                .instances
                .iter()
                .position(|i| i.id == action.instance_id && i.state == waiting)
            else {
                return Ok(false);
            };
            match (action.transition, result) {
                (LifecycleTransition::Launching, LifecycleResult::Continue) => {
                    group.instances[at].state = LifecycleState::InService;
                }
                _ => {
                    group.instances.remove(at);
                }
            }
            c.effects.push(format!(
                "CompleteLifecycleAction {} {}",
                action.instance_id,
                result.as_str()
            ));
            Ok(true)
        })
    }

    async fn heartbeat(&self, action: &LifecycleAction) -> Result<bool> {
        self.with(|c| {
            let waiting = c.group.as_ref().is_some_and(|g| {
                g.instances.iter().any(|i| {
                    i.id == action.instance_id
                        && matches!(
                            i.state,
                            LifecycleState::PendingWait | LifecycleState::TerminatingWait
                        )
                })
            });
            if waiting {
                c.effects.push(format!(
                    "RecordLifecycleActionHeartbeat {}",
                    action.instance_id
                ));
            }
            Ok(waiting)
        })
    }

    async fn warm_pool_waiting(
        &self,
        _group: &str,
    ) -> Result<Vec<(InstanceId, LifecycleTransition)>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl InstanceStatuses for FakeCluster {
    async fn instance_status(&self, instance_id: &InstanceId) -> Result<InstanceStatus> {
        self.with(|c| {
            Ok(c.instances
                .statuses
                .get(instance_id)
                .copied()
                .unwrap_or(InstanceStatus {
                    running: true,
                    checks: StatusChecks::Ok,
                }))
        })
    }
}

#[async_trait]
impl HealthProbe for FakeCluster {
    /// An instance SSM cannot reach yet has no command sent.
    async fn start_probe(&self, instance_id: &InstanceId, _path: &str) -> Result<Option<String>> {
        self.with(|c| {
            if c.instances.probes.get(instance_id) == Some(&ProbeOutcome::Unreachable) {
                return Ok(None);
            }
            c.effects.push(format!("SendCommand {instance_id}"));
            Ok(Some(format!("cmd-{instance_id}")))
        })
    }

    async fn probe_result(
        &self,
        _command_id: &str,
        instance_id: &InstanceId,
    ) -> Result<ProbeOutcome> {
        self.with(|c| {
            Ok(c.instances
                .probes
                .get(instance_id)
                .cloned()
                .unwrap_or(ProbeOutcome::Pending))
        })
    }
}

#[async_trait]
impl TargetGroups for FakeCluster {
    /// Every instance of the group starts registered; a deregistration drains at once.
    async fn deregister(&self, target_group_arn: &str, instance_id: &InstanceId) -> Result<bool> {
        self.with(|c| {
            c.effects.push(format!(
                "DeregisterTargets {target_group_arn} {instance_id}"
            ));
        });
        Ok(true)
    }

    async fn draining(&self, _target_group_arn: &str, _instance_id: &InstanceId) -> Result<bool> {
        Ok(false)
    }
}

//! A cluster in memory: one Auto Scaling group, its alarms, its other capacity writers, its
//! instances' monitoring, its database and the operator's topic, with every mutating call recorded in order
//! (the in-process counterpart of the emulator's request log).

use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{
    AlarmState, AlarmStatus, Bounds, CapacityWriter, DbInfo, GroupInstance, GroupSnapshot,
    InstanceId, LifecycleState, Millis, Notice,
};
use crate::error::{Error, Result};
use crate::ports::{
    Alarms, CapacityWriters, Databases, InstanceMonitoring, Notifier, ScalingGroup,
};

#[derive(Default)]
pub(super) struct Cluster {
    pub(super) group: Option<GroupSnapshot>,
    alarms: Vec<AlarmStatus>,
    writers: Vec<CapacityWriter>,
    basic_monitoring: Vec<InstanceId>,
    /// The cluster's RDS instance, by its identifier.
    db: Option<(String, DbInfo)>,
    /// The instances' status, probe answers ([`super::instances`]).
    pub(super) instances: super::instances::Instances,
    /// The site's DNS, static bucket and what its visitors get ([`super::site`]).
    pub(super) site: super::site::Site,
    /// Images, the launch template, the refresh, DB snapshots ([`super::rollout`]).
    pub(super) rollout: super::rollout::Rollout,
    pub(super) effects: Vec<String>,
}

#[derive(Default)]
pub struct FakeCluster {
    cluster: Mutex<Cluster>,
}

impl FakeCluster {
    /// A group of `in_service` healthy InService instances (`i-0`, `i-1`, …) within `bounds`.
    pub fn with_group(name: &str, bounds: Bounds, in_service: u32) -> Self {
        let instances = (0..in_service)
            .map(|n| GroupInstance {
                id: format!("i-{n}").into(),
                state: LifecycleState::InService,
                healthy: true,
                protected_from_scale_in: false,
            })
            .collect();
        let fake = FakeCluster::default();
        fake.with(|c| {
            c.group = Some(GroupSnapshot {
                name: name.into(),
                bounds,
                desired: in_service,
                instances,
                launch_template: None,
                target_group_arns: Vec::new(),
                warm_pool: false,
            })
        });
        fake
    }

    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> T {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        let mut guard = self.cluster.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// The alarm `name` is in `state` since `since` (added, or its state replaced).
    pub fn set_alarm(&self, name: &str, state: AlarmState, since: Millis) {
        self.with(|c| {
            c.alarms.retain(|a| a.name != name);
            c.alarms.push(AlarmStatus {
                name: name.into(),
                state,
                since,
            });
        });
    }

    /// Another writer of the group's desired capacity (a scaling policy, a scheduled action).
    pub fn add_capacity_writer(&self, kind: &str, name: &str) {
        self.with(|c| {
            c.writers.push(CapacityWriter {
                kind: kind.into(),
                name: name.into(),
            })
        });
    }

    /// The instance sends five-minute (basic) metrics.
    pub fn set_basic_monitoring(&self, instance: &str) {
        self.with(|c| c.basic_monitoring.push(instance.into()));
    }

    /// The cluster's database `id` is as `info` says (made, or its settings replaced).
    pub fn set_db(&self, id: &str, info: DbInfo) {
        self.with(|c| c.db = Some((id.into(), info)));
    }

    /// The group as it is now (panics when it was never made: a test's own mistake).
    pub fn group(&self) -> GroupSnapshot {
        self.with(|c| c.group.clone().expect("the fake cluster has a group"))
    }

    /// Every mutating call so far, in order (`SetDesiredCapacity web 4`, `Publish <subject>`).
    pub fn effects(&self) -> Vec<String> {
        self.with(|c| c.effects.clone())
    }
}

#[async_trait]
impl ScalingGroup for FakeCluster {
    async fn describe_group(&self, name: &str) -> Result<Option<GroupSnapshot>> {
        self.with(|c| Ok(c.group.clone().filter(|g| g.name == name)))
    }

    async fn set_desired_capacity(&self, name: &str, desired: u32) -> Result<()> {
        self.with(|c| {
            let Some(group) = c.group.as_mut().filter(|g| g.name == name) else {
                // AWS answers ValidationError for a group that does not exist.
                return Err(Error::Aws {
                    operation: "SetDesiredCapacity",
                    code: Some("ValidationError".into()),
                    message: format!("AutoScalingGroup name not found - {name}"),
                });
            };
            // The desired capacity "must be greater than or equal to the minimum size of the
            // group and less than or equal to the maximum size of the group":
            // https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html
            let Bounds { min, max } = group.bounds;
            if desired < min || desired > max {
                return Err(Error::Aws {
                    operation: "SetDesiredCapacity",
                    code: Some("ValidationError".into()),
                    message: format!(
                        "New SetDesiredCapacity value {desired} is outside {min}..{max}"
                    ),
                });
            }
            group.desired = desired;
            c.effects
                .push(format!("SetDesiredCapacity {name} {desired}"));
            Ok(())
        })
    }
}

#[async_trait]
impl CapacityWriters for FakeCluster {
    async fn capacity_writers(&self, group: &str) -> Result<Vec<CapacityWriter>> {
        self.with(|c| {
            let ours = c.group.as_ref().is_some_and(|g| g.name == group);
            Ok(if ours { c.writers.clone() } else { Vec::new() })
        })
    }
}

#[async_trait]
impl Alarms for FakeCluster {
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>> {
        self.with(|c| {
            Ok(c.alarms
                .iter()
                .filter(|a| names.contains(&a.name))
                .cloned()
                .collect())
        })
    }
}

#[async_trait]
impl InstanceMonitoring for FakeCluster {
    async fn basic_monitoring(&self, instance_ids: &[InstanceId]) -> Result<Vec<InstanceId>> {
        self.with(|c| {
            Ok(c.basic_monitoring
                .iter()
                .filter(|i| instance_ids.contains(i))
                .cloned()
                .collect())
        })
    }
}

#[async_trait]
impl Databases for FakeCluster {
    async fn describe_db(&self, db_instance: &str) -> Result<Option<DbInfo>> {
        self.with(|c| {
            Ok(c.db
                .as_ref()
                .filter(|(id, _)| id == db_instance)
                .map(|(_, info)| info.clone()))
        })
    }
}

#[async_trait]
impl Notifier for FakeCluster {
    async fn notify(&self, notice: &Notice) -> Result<()> {
        self.with(|c| {
            c.effects.push(format!("Publish {}", notice.subject()));
        });
        Ok(())
    }
}

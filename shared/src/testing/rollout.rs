//! The gold image's side of the fake cluster: scale-in protection and standby of the group's
//! instances, images, the group's launch template and its versions, the instance refresh, and
//! the database's snapshots. Each mutating call is recorded; the refresh moves only when the test
//! says how it went ([`FakeCluster::end_refresh`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::FakeCluster;
use super::cluster::Cluster;
use crate::domain::image::{CLUSTER_TAG, MANAGED_TAG};
use crate::domain::{
    ClusterName, GroupSnapshot, GroupTemplate, ImageId, ImageInfo, ImageRequest, ImageState,
    InstanceId, LaunchTemplateId, LaunchTemplateVersion, LifecycleState, Millis, RefreshRequest,
    RefreshStatus, RefreshView, TemplateVersion,
};
use crate::error::{Error, Result};
use crate::ports::{DbSnapshots, GroupInstances, Images, LaunchTemplates};

#[derive(Default)]
pub(super) struct Rollout {
    images: BTreeMap<ImageId, ImageInfo>,
    /// The image each of the group's instances runs.
    runs: BTreeMap<InstanceId, ImageId>,
    template: Option<Template>,
    refresh: Option<Refresh>,
    db_snapshots: BTreeSet<String>,
    made: i64,
}

struct Template {
    id: LaunchTemplateId,
    versions: Vec<LaunchTemplateVersion>,
    default: i64,
}

struct Refresh {
    id: String,
    request: RefreshRequest,
    view: RefreshView,
}

impl Template {
    /// `$Default`, `$Latest` or a number, as EC2 resolves it.
    fn resolve(&self, version: &str) -> Result<&LaunchTemplateVersion> {
        let number = match TemplateVersion::parse(version) {
            Some(TemplateVersion::Default) => Some(self.default),
            Some(TemplateVersion::Latest) => self.versions.last().map(|v| v.number),
            Some(TemplateVersion::Number(n)) => Some(n),
            None => None,
        };
        number
            .and_then(|n| self.versions.iter().find(|v| v.number == n))
            .ok_or_else(|| {
                Error::not_found(format!("version {version} of launch template {}", self.id))
            })
    }
}

impl Cluster {
    fn group_mut(&mut self, name: &str) -> Result<&mut GroupSnapshot> {
        self.group
            .as_mut()
            .filter(|g| g.name == *name)
            .ok_or_else(|| Error::not_found(format!("Auto Scaling group {name}")))
    }

    fn template_mut(&mut self, id: &LaunchTemplateId) -> Result<&mut Template> {
        self.rollout
            .template
            .as_mut()
            .filter(|t| t.id == *id)
            .ok_or_else(|| Error::not_found(format!("launch template {id}")))
    }
}

impl FakeCluster {
    /// The group launches `template`'s `$Default`, whose version 1 (the only one) runs `image`,
    /// and every instance of the group runs that image.
    pub fn with_template(&self, template: &str, image: &str) {
        self.with(|c| {
            let group = c.group.as_mut().expect("the fake cluster has a group");
            group.launch_template = Some(GroupTemplate {
                id: template.into(),
                version: TemplateVersion::Default,
            });
            for instance in &group.instances {
                c.rollout.runs.insert(instance.id.clone(), image.into());
            }
            c.rollout.template = Some(Template {
                id: template.into(),
                versions: vec![LaunchTemplateVersion {
                    number: 1,
                    image_id: Some(image.into()),
                    description: None,
                }],
                default: 1,
            });
        });
    }

    /// EC2 finished (or failed) making `image`.
    pub fn set_image_state(&self, image: &ImageId, state: ImageState) {
        self.with(|c| {
            let made = c
                .rollout
                .images
                .get_mut(image)
                .expect("an image the fake made");
            made.state = state;
        });
    }

    /// The images there are now (made, not deregistered).
    pub fn images(&self) -> Vec<ImageInfo> {
        self.with(|c| c.rollout.images.values().cloned().collect())
    }

    /// The launch template's default version now, and its newest.
    pub fn template_versions(&self) -> (i64, i64) {
        self.with(|c| {
            let template = c.rollout.template.as_ref().expect("a launch template");
            (
                template.default,
                template.versions.last().map_or(0, |v| v.number),
            )
        })
    }

    /// The running instance refresh ends as `status` says, with `reason`. A successful one has
    /// replaced every instance with one running the new version's image and, as AWS does with a
    /// desired configuration, written that version into the group
    /// (<https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-instance-refresh-update-launch-template.html>);
    /// a rolled-back one leaves the group as it was.
    pub fn end_refresh(&self, status: RefreshStatus, reason: Option<&str>) {
        self.with(|c| {
            let refresh = c.rollout.refresh.as_mut().expect("a refresh was started");
            refresh.view = RefreshView {
                status: status.clone(),
                percentage_complete: 100,
                status_reason: reason.map(str::to_owned),
                rollback_reason: reason
                    .filter(|_| status == RefreshStatus::RollbackSuccessful)
                    .map(str::to_owned),
            };
            if status != RefreshStatus::Successful {
                return;
            }
            let (template, version) = (
                refresh.request.launch_template_id.clone(),
                refresh.request.version,
            );
            let image = c
                .rollout
                .template
                .as_ref()
                .and_then(|t| t.resolve(&version.to_string()).ok())
                .and_then(|v| v.image_id.clone());
            let group = c.group.as_mut().expect("the fake cluster has a group");
            group.launch_template = Some(GroupTemplate {
                id: template,
                version: TemplateVersion::Number(version),
            });
            c.rollout.runs.clear();
            for (n, instance) in group.instances.iter_mut().enumerate() {
                instance.id = format!("i-new{n}").into();
                c.rollout
                    .runs
                    .extend(image.clone().map(|i| (instance.id.clone(), i)));
            }
        });
    }
}

#[async_trait]
impl GroupInstances for FakeCluster {
    async fn protect_from_scale_in(
        &self,
        group: &str,
        instance: &InstanceId,
        protect: bool,
    ) -> Result<()> {
        self.with(|c| {
            let member = c
                .group_mut(group)?
                .instances
                .iter_mut()
                .find(|i| i.id == *instance);
            let member = member.ok_or_else(|| Error::not_found(format!("instance {instance}")))?;
            member.protected_from_scale_in = protect;
            c.effects
                .push(format!("SetInstanceProtection {instance} {protect}"));
            Ok(())
        })
    }

    /// InService to Standby at once (no load balancer to drain), decrementing the desired
    /// capacity as halfhour asks; ExitStandby puts it back and increments it
    /// (<https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html>).
    async fn enter_standby(&self, group: &str, instance: &InstanceId) -> Result<()> {
        self.standby(group, instance, true)
    }

    async fn exit_standby(&self, group: &str, instance: &InstanceId) -> Result<()> {
        self.standby(group, instance, false)
    }

    /// One refresh at a time: another while one runs is AWS's InstanceRefreshInProgress, which
    /// the adapter reads as a conflict
    /// (<https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html>).
    async fn start_instance_refresh(
        &self,
        group: &str,
        refresh: &RefreshRequest,
    ) -> Result<String> {
        self.with(|c| {
            c.group_mut(group)?;
            if c.rollout
                .refresh
                .as_ref()
                .is_some_and(|r| r.view.status.is_running())
            {
                return Err(Error::Conflict(format!(
                    "an instance refresh of {group} is in progress"
                )));
            }
            let id = format!("refresh-{}", c.effects.len());
            c.effects
                .push(format!("StartInstanceRefresh {group} {}", refresh.version));
            c.rollout.refresh = Some(Refresh {
                id: id.clone(),
                request: refresh.clone(),
                view: RefreshView {
                    status: RefreshStatus::Pending,
                    percentage_complete: 0,
                    status_reason: None,
                    rollback_reason: None,
                },
            });
            Ok(id)
        })
    }

    async fn refresh(&self, _group: &str, refresh_id: &str) -> Result<Option<RefreshView>> {
        self.with(|c| {
            Ok(c.rollout
                .refresh
                .as_ref()
                .filter(|r| r.id == refresh_id)
                .map(|r| r.view.clone()))
        })
    }

    async fn set_launch_template_version(
        &self,
        group: &str,
        template_id: &LaunchTemplateId,
        version: i64,
    ) -> Result<()> {
        self.with(|c| {
            c.group_mut(group)?.launch_template = Some(GroupTemplate {
                id: template_id.clone(),
                version: TemplateVersion::Number(version),
            });
            c.effects.push(format!(
                "UpdateAutoScalingGroup {group} {template_id} {version}"
            ));
            Ok(())
        })
    }

    async fn rollback_instance_refresh(&self, group: &str) -> Result<bool> {
        self.with(|c| {
            let Some(refresh) = c
                .rollout
                .refresh
                .as_mut()
                .filter(|r| r.view.status.may_roll_back())
            else {
                return Ok(false);
            };
            refresh.view.status = RefreshStatus::RollbackInProgress;
            c.effects.push(format!("RollbackInstanceRefresh {group}"));
            Ok(true)
        })
    }
}

impl FakeCluster {
    /// EnterStandby (`entering`) or ExitStandby of the group's `instance`.
    fn standby(&self, group: &str, instance: &InstanceId, entering: bool) -> Result<()> {
        let (operation, from, to) = if entering {
            (
                "EnterStandby",
                LifecycleState::InService,
                LifecycleState::Standby,
            )
        } else {
            (
                "ExitStandby",
                LifecycleState::Standby,
                LifecycleState::InService,
            )
        };
        self.with(|c| {
            let group_now = c.group_mut(group)?;
            let member = group_now
                .instances
                .iter_mut()
                .find(|i| i.id == *instance && i.state == from)
                .ok_or_else(|| Error::Aws {
                    operation,
                    code: Some("ValidationError".into()),
                    message: format!("instance {instance} is not {from:?}"),
                })?;
            member.state = to;
            if entering {
                group_now.desired -= 1;
            } else {
                group_now.desired += 1;
            }
            c.effects.push(format!("{operation} {instance}"));
            Ok(())
        })
    }
}

#[async_trait]
impl Images for FakeCluster {
    /// Always with a reboot (the request has no switch); pending until the test says otherwise.
    /// A name already taken is EC2's InvalidAMIName.Duplicate
    /// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html>).
    async fn create_image(&self, request: &ImageRequest) -> Result<ImageId> {
        self.with(|c| {
            if c.rollout.images.values().any(|i| i.name == request.name) {
                return Err(Error::Aws {
                    operation: "CreateImage",
                    code: Some("InvalidAMIName.Duplicate".into()),
                    message: format!("AMI name {} is already in use", request.name),
                });
            }
            c.rollout.made += 1;
            let id = ImageId::from(format!("ami-{:017x}", c.rollout.made));
            c.rollout.images.insert(
                id.clone(),
                ImageInfo {
                    id: id.clone(),
                    name: request.name.clone(),
                    state: ImageState::Pending,
                    created: Millis(c.rollout.made),
                    snapshot_ids: vec![format!("snap-{:017x}", c.rollout.made)],
                    tags: request.tags.clone(),
                },
            );
            c.effects
                .push(format!("CreateImage {} with reboot", request.instance_id));
            Ok(id)
        })
    }

    async fn find_image_by_name(&self, name: &str) -> Result<Option<ImageInfo>> {
        self.with(|c| Ok(c.rollout.images.values().find(|i| i.name == name).cloned()))
    }

    async fn describe_image(&self, image_id: &ImageId) -> Result<Option<ImageInfo>> {
        self.with(|c| Ok(c.rollout.images.get(image_id).cloned()))
    }

    async fn managed_images(&self, cluster: &ClusterName) -> Result<Vec<ImageInfo>> {
        self.with(|c| {
            let tagged = |i: &&ImageInfo| {
                i.tags.get(MANAGED_TAG).is_some_and(|v| v == "true")
                    && i.tags
                        .get(CLUSTER_TAG)
                        .is_some_and(|v| v == cluster.as_str())
            };
            Ok(c.rollout.images.values().filter(tagged).cloned().collect())
        })
    }

    async fn images_in_use(&self, image_ids: &[ImageId]) -> Result<BTreeSet<ImageId>> {
        self.with(|c| {
            Ok(c.rollout
                .runs
                .values()
                .filter(|i| image_ids.contains(i))
                .cloned()
                .collect())
        })
    }

    async fn deregister_with_snapshots(&self, image: &ImageInfo) -> Result<()> {
        self.with(|c| {
            c.rollout.images.remove(&image.id);
            c.effects
                .push(format!("DeregisterImage {} with its snapshots", image.id));
            Ok(())
        })
    }
}

#[async_trait]
impl LaunchTemplates for FakeCluster {
    async fn version(
        &self,
        template_id: &LaunchTemplateId,
        version: &str,
    ) -> Result<LaunchTemplateVersion> {
        self.with(|c| c.template_mut(template_id)?.resolve(version).cloned())
    }

    async fn create_version(
        &self,
        template_id: &LaunchTemplateId,
        source: i64,
        image_id: &ImageId,
        description: &str,
    ) -> Result<i64> {
        self.with(|c| {
            let template = c.template_mut(template_id)?;
            template.resolve(&source.to_string())?;
            let number = template.versions.last().map_or(1, |v| v.number + 1);
            template.versions.push(LaunchTemplateVersion {
                number,
                image_id: Some(image_id.clone()),
                description: Some(description.to_owned()),
            });
            c.effects.push(format!(
                "CreateLaunchTemplateVersion {template_id} {number} from {source} with {image_id}"
            ));
            Ok(number)
        })
    }

    async fn set_default_version(
        &self,
        template_id: &LaunchTemplateId,
        version: i64,
    ) -> Result<()> {
        self.with(|c| {
            let template = c.template_mut(template_id)?;
            template.resolve(&version.to_string())?;
            template.default = version;
            c.effects.push(format!(
                "ModifyLaunchTemplate {template_id} default {version}"
            ));
            Ok(())
        })
    }
}

#[async_trait]
impl DbSnapshots for FakeCluster {
    async fn create_db_snapshot(
        &self,
        db_instance: &str,
        snapshot_id: &str,
        _tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.with(|c| {
            if c.rollout.db_snapshots.insert(snapshot_id.to_owned()) {
                c.effects
                    .push(format!("CreateDBSnapshot {db_instance} {snapshot_id}"));
            }
            Ok(())
        })
    }

    async fn db_snapshots(&self, _db_instance: &str, prefix: &str) -> Result<Vec<String>> {
        self.with(|c| {
            Ok(c.rollout
                .db_snapshots
                .iter()
                .filter(|s| s.starts_with(prefix))
                .cloned()
                .collect())
        })
    }

    async fn delete_db_snapshot(&self, snapshot_id: &str) -> Result<()> {
        self.with(|c| {
            if c.rollout.db_snapshots.remove(snapshot_id) {
                c.effects.push(format!("DeleteDBSnapshot {snapshot_id}"));
            }
            Ok(())
        })
    }
}

//! EC2 adapter: images (always made with a reboot) and launch templates.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    Filter, Image, InstanceStateName, MonitoringState, RequestLaunchTemplateData, ResourceType,
    SnapshotReturnCodes, SummaryStatus, Tag, TagSpecification,
};

use super::classify;
use crate::domain::image::{CLUSTER_TAG, MANAGED_TAG};
use crate::domain::{
    ClusterName, ImageId, ImageInfo, ImageRequest, ImageState, InstanceId, InstanceStatus,
    LaunchTemplateId, LaunchTemplateVersion, Millis, StatusChecks, parse_timestamp,
};
use crate::error::{Error, Result};
use crate::ports::{Images, InstanceMonitoring, InstanceStatuses, LaunchTemplates};

#[derive(Clone, Debug)]
pub struct Ec2 {
    client: super::LazyClient<Client>,
}

impl Ec2 {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        Ec2 {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn image_info(image: Image) -> ImageInfo {
    ImageInfo {
        created: image
            .creation_date
            .as_deref()
            .and_then(|d| parse_timestamp(d).ok())
            .unwrap_or(Millis(0)),
        state: ImageState::parse(image.state.as_ref().map_or("", |s| s.as_str())),
        snapshot_ids: image
            .block_device_mappings
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.ebs?.snapshot_id)
            .collect(),
        tags: image
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect(),
        name: image.name.unwrap_or_default(),
        id: image.image_id.unwrap_or_default().into(),
    }
}

fn not_found(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.contains("NotFound") || c == "InvalidAMIID.Unavailable")
}

impl Ec2 {
    async fn describe_images(
        &self,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<ImageInfo>> {
        let mut pages = self
            .client
            .describe_images()
            .owners("self")
            .set_filters(Some(filters).filter(|f| !f.is_empty()))
            .set_image_ids(Some(ids).filter(|i| !i.is_empty()))
            .into_paginator()
            .send();
        let mut images = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => {
                    images.extend(page.images.unwrap_or_default().into_iter().map(image_info))
                }
                Err(err) if not_found(err.code()) => return Ok(Vec::new()),
                Err(err) => return Err(classify("DescribeImages", err)),
            }
        }
        Ok(images)
    }
}

#[async_trait]
impl Images for Ec2 {
    async fn create_image(&self, request: &ImageRequest) -> Result<ImageId> {
        let tags: Vec<Tag> = request
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let spec = |resource| {
            TagSpecification::builder()
                .resource_type(resource)
                .set_tags(Some(tags.clone()))
                .build()
        };
        let created = self
            .client
            .create_image()
            .instance_id(&request.instance_id)
            .name(&request.name)
            .description(&request.description)
            // Always reboot: an image of a running file system without one may be corrupt.
            .no_reboot(false)
            .tag_specifications(spec(ResourceType::Image))
            .tag_specifications(spec(ResourceType::Snapshot))
            .send()
            .await;
        match created {
            Ok(out) => out
                .image_id
                .map(ImageId::from)
                .ok_or_else(|| Error::aws("CreateImage", "no image id in the answer")),
            // Names are unique: a retried request finds the image its first attempt made.
            Err(err) if err.code() == Some("InvalidAMIName.Duplicate") => self
                .find_image_by_name(&request.name)
                .await?
                .map(|image| image.id)
                .ok_or_else(|| {
                    Error::aws(
                        "CreateImage",
                        format!(
                            "name {} is taken by an image this account cannot see",
                            request.name
                        ),
                    )
                }),
            Err(err) => Err(classify("CreateImage", err)),
        }
    }

    async fn find_image_by_name(&self, name: &str) -> Result<Option<ImageInfo>> {
        Ok(self
            .describe_images(vec![filter("name", [name])], vec![])
            .await?
            .into_iter()
            .next())
    }

    async fn describe_image(&self, image_id: &ImageId) -> Result<Option<ImageInfo>> {
        Ok(self
            .describe_images(vec![], vec![image_id.into()])
            .await?
            .into_iter()
            .next())
    }

    async fn managed_images(&self, cluster: &ClusterName) -> Result<Vec<ImageInfo>> {
        self.describe_images(
            vec![
                filter(&format!("tag:{MANAGED_TAG}"), ["true"]),
                filter(&format!("tag:{CLUSTER_TAG}"), [cluster.as_str()]),
            ],
            vec![],
        )
        .await
    }

    async fn images_in_use(&self, image_ids: &[ImageId]) -> Result<BTreeSet<ImageId>> {
        if image_ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let mut pages = self
            .client
            .describe_instances()
            .filters(filter("image-id", image_ids.iter().map(ImageId::as_str)))
            .filters(filter(
                "instance-state-name",
                ["pending", "running", "shutting-down", "stopping", "stopped"],
            ))
            .into_paginator()
            .send();
        let mut used = BTreeSet::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeInstances", e))?;
            for reservation in page.reservations() {
                used.extend(
                    reservation
                        .instances()
                        .iter()
                        .filter_map(|i| i.image_id().map(ImageId::from)),
                );
            }
        }
        Ok(used)
    }

    async fn deregister_with_snapshots(&self, image: &ImageInfo) -> Result<()> {
        // One call: a DeleteSnapshot after DeregisterImage can still find the snapshot in use,
        // and a retry no longer finds the image that named it.
        let out = match self
            .client
            .deregister_image()
            .image_id(&image.id)
            .delete_associated_snapshots(true)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if not_found(err.code()) => return Ok(()),
            Err(err) => return Err(classify("DeregisterImage", err)),
        };
        let left: Vec<String> = out
            .delete_snapshot_results()
            .iter()
            .filter(|r| {
                !matches!(
                    r.return_code(),
                    Some(SnapshotReturnCodes::Success | SnapshotReturnCodes::WarnSkipped)
                )
            })
            .map(|r| {
                format!(
                    "{} ({})",
                    r.snapshot_id().unwrap_or("?"),
                    r.return_code().map_or("no result", |c| c.as_str())
                )
            })
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        Err(Error::aws(
            "DeregisterImage",
            format!(
                "image {} is deregistered but its snapshots {} were not deleted: delete them by hand",
                image.id,
                left.join(", ")
            ),
        ))
    }
}

#[async_trait]
impl InstanceMonitoring for Ec2 {
    async fn basic_monitoring(&self, instance_ids: &[InstanceId]) -> Result<Vec<InstanceId>> {
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pages = self
            .client
            .describe_instances()
            .set_instance_ids(Some(instance_ids.iter().map(String::from).collect()))
            .into_paginator()
            .send();
        let mut basic = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeInstances", e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let state = instance.monitoring().and_then(|m| m.state());
                if matches!(
                    state,
                    Some(MonitoringState::Disabled | MonitoringState::Disabling)
                ) {
                    basic.extend(instance.instance_id().map(InstanceId::from));
                }
            }
        }
        Ok(basic)
    }
}

#[async_trait]
impl InstanceStatuses for Ec2 {
    async fn instance_status(&self, instance_id: &InstanceId) -> Result<InstanceStatus> {
        let out = self
            .client
            .describe_instance_status()
            .instance_ids(instance_id)
            .include_all_instances(true)
            .send()
            .await
            .map_err(|e| classify("DescribeInstanceStatus", e))?;
        let Some(status) = out.instance_statuses().first() else {
            return Ok(InstanceStatus {
                running: false,
                checks: StatusChecks::Initializing,
            });
        };
        let running =
            status.instance_state().and_then(|s| s.name()) == Some(&InstanceStateName::Running);
        let summaries = [status.instance_status(), status.system_status()]
            .map(|s| s.and_then(|s| s.status()).cloned());
        let checks = if summaries.iter().all(|s| *s == Some(SummaryStatus::Ok)) {
            StatusChecks::Ok
        } else if summaries.contains(&Some(SummaryStatus::Impaired)) {
            StatusChecks::Impaired
        } else {
            StatusChecks::Initializing
        };
        Ok(InstanceStatus { running, checks })
    }
}

#[async_trait]
impl LaunchTemplates for Ec2 {
    async fn version(
        &self,
        template_id: &LaunchTemplateId,
        version: &str,
    ) -> Result<LaunchTemplateVersion> {
        let out = self
            .client
            .describe_launch_template_versions()
            .launch_template_id(template_id)
            .versions(version)
            .send()
            .await
            .map_err(|e| classify("DescribeLaunchTemplateVersions", e))?;
        let found = out.launch_template_versions().first().ok_or_else(|| {
            Error::not_found(format!(
                "version {version} of launch template {template_id}"
            ))
        })?;
        Ok(LaunchTemplateVersion {
            number: found.version_number().unwrap_or_default(),
            description: found.version_description().map(str::to_owned),
            image_id: found
                .launch_template_data()
                .and_then(|d| d.image_id())
                .map(ImageId::from),
        })
    }

    async fn create_version(
        &self,
        template_id: &LaunchTemplateId,
        source: i64,
        image_id: &ImageId,
        description: &str,
    ) -> Result<i64> {
        let out = self
            .client
            .create_launch_template_version()
            .launch_template_id(template_id)
            .source_version(source.to_string())
            .version_description(description)
            // A retried request (its answer lost) gets the version it created, not a second one.
            .client_token(description)
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id(image_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("CreateLaunchTemplateVersion", e))?;
        out.launch_template_version
            .and_then(|v| v.version_number)
            .ok_or_else(|| {
                Error::aws(
                    "CreateLaunchTemplateVersion",
                    "no version number in the answer",
                )
            })
    }

    async fn set_default_version(
        &self,
        template_id: &LaunchTemplateId,
        version: i64,
    ) -> Result<()> {
        self.client
            .modify_launch_template()
            .launch_template_id(template_id)
            .default_version(version.to_string())
            .send()
            .await
            .map_err(|e| classify("ModifyLaunchTemplate", e))?;
        Ok(())
    }
}

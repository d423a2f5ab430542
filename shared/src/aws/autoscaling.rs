//! The Auto Scaling group adapter.

use async_trait::async_trait;
use aws_sdk_autoscaling::Client;

use super::classify;
use crate::domain::{Bounds, GroupInstance, GroupSnapshot, LifecycleState};
use crate::error::{Error, Result};
use crate::ports::ScalingGroup;

#[derive(Clone, Debug)]
pub struct AsgScalingGroup {
    client: Client,
}

impl AsgScalingGroup {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        AsgScalingGroup {
            client: Client::new(sdk),
        }
    }
}

#[async_trait]
impl ScalingGroup for AsgScalingGroup {
    async fn describe_group(&self, name: &str) -> Result<Option<GroupSnapshot>> {
        let out = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| classify("DescribeAutoScalingGroups", e))?;
        let Some(group) = out
            .auto_scaling_groups
            .unwrap_or_default()
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let count = |v: Option<i32>, what: &str| {
            v.and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| Error::Aws {
                    operation: "DescribeAutoScalingGroups",
                    message: format!("group {name} has no valid {what}"),
                })
        };
        let bounds = Bounds::new(
            count(group.min_size, "MinSize")?,
            count(group.max_size, "MaxSize")?,
        )
        .map_err(|message| Error::Aws {
            operation: "DescribeAutoScalingGroups",
            message,
        })?;
        let instances = group
            .instances
            .unwrap_or_default()
            .into_iter()
            .map(|i| GroupInstance {
                id: i.instance_id.unwrap_or_default(),
                state: LifecycleState::parse(i.lifecycle_state.as_ref().map_or("", |s| s.as_str())),
                healthy: i.health_status.as_deref() == Some("Healthy"),
                protected_from_scale_in: i.protected_from_scale_in.unwrap_or(false),
            })
            .collect();
        Ok(Some(GroupSnapshot {
            name: name.to_owned(),
            bounds,
            desired: count(group.desired_capacity, "DesiredCapacity")?,
            instances,
        }))
    }

    async fn set_desired_capacity(&self, name: &str, desired: u32) -> Result<()> {
        let desired = i32::try_from(desired).map_err(|_| Error::Aws {
            operation: "SetDesiredCapacity",
            message: format!("desired capacity {desired} is out of range"),
        })?;
        self.client
            .set_desired_capacity()
            .auto_scaling_group_name(name)
            .desired_capacity(desired)
            .honor_cooldown(false)
            .send()
            .await
            .map_err(|e| classify("SetDesiredCapacity", e))?;
        Ok(())
    }
}

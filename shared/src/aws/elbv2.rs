//! ELBv2 adapter: take an instance out of its target groups and watch it drain.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthStateEnum};

use super::classify;
use crate::domain::InstanceId;
use crate::error::Result;
use crate::ports::TargetGroups;

#[derive(Clone, Debug)]
pub struct ElbTargetGroups {
    client: super::LazyClient<Client>,
}

impl ElbTargetGroups {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        ElbTargetGroups {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }

    /// The instance's target state in the group, None when it is not registered.
    async fn state(
        &self,
        target_group_arn: &str,
        instance_id: &InstanceId,
    ) -> Result<Option<TargetHealthStateEnum>> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| classify("DescribeTargetHealth", e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .find(|d| d.target().and_then(|t| t.id()) == Some(instance_id))
            .map(|d| {
                d.target_health()
                    .and_then(|h| h.state())
                    .cloned()
                    .unwrap_or(TargetHealthStateEnum::Unused)
            }))
    }
}

#[async_trait]
impl TargetGroups for ElbTargetGroups {
    async fn deregister(&self, target_group_arn: &str, instance_id: &InstanceId) -> Result<bool> {
        match self.state(target_group_arn, instance_id).await? {
            None | Some(TargetHealthStateEnum::Draining) => Ok(false),
            Some(_) => {
                self.client
                    .deregister_targets()
                    .target_group_arn(target_group_arn)
                    .targets(TargetDescription::builder().id(instance_id).build())
                    .send()
                    .await
                    .map_err(|e| classify("DeregisterTargets", e))?;
                Ok(true)
            }
        }
    }

    async fn draining(&self, target_group_arn: &str, instance_id: &InstanceId) -> Result<bool> {
        Ok(self.state(target_group_arn, instance_id).await?
            == Some(TargetHealthStateEnum::Draining))
    }
}

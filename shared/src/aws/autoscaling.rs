//! The Auto Scaling group adapter.

use async_trait::async_trait;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_autoscaling::types::{
    AlarmSpecification, DesiredConfiguration, LaunchTemplateSpecification, RefreshPreferences,
    RefreshStrategy,
};

use super::classify;
use crate::domain::{
    Bounds, CapacityWriter, GroupInstance, GroupSnapshot, GroupTemplate, InstanceId,
    LaunchTemplateId, LifecycleAction, LifecycleResult, LifecycleState, LifecycleTransition,
    RefreshRequest, RefreshStatus, RefreshView, TemplateVersion,
};
use crate::error::{Error, Result};
use crate::ports::{CapacityWriters, GroupInstances, LifecycleActions, ScalingGroup};

#[derive(Clone, Debug)]
pub struct AsgScalingGroup {
    client: super::LazyClient<Client>,
}

impl AsgScalingGroup {
    pub fn new(sdk: &super::SdkConfig) -> Self {
        AsgScalingGroup {
            client: super::LazyClient::new(sdk, Client::new),
        }
    }
}

/// The group's launch template; a version AWS omits is `$Default` (what AWS then launches).
fn group_template(group: &str, spec: LaunchTemplateSpecification) -> Result<GroupTemplate> {
    let version = spec.version.as_deref().unwrap_or("$Default");
    Ok(GroupTemplate {
        id: spec
            .launch_template_id
            .ok_or_else(|| {
                Error::aws(
                    "DescribeAutoScalingGroups",
                    format!("group {group}'s launch template has no id"),
                )
            })?
            .into(),
        version: TemplateVersion::parse(version).ok_or_else(|| {
            Error::aws(
                "DescribeAutoScalingGroups",
                format!("group {group} names launch-template version `{version}`"),
            )
        })?,
    })
}

#[async_trait]
impl CapacityWriters for AsgScalingGroup {
    async fn capacity_writers(&self, group: &str) -> Result<Vec<CapacityWriter>> {
        let mut writers = Vec::new();
        let mut policies = self
            .client
            .describe_policies()
            .auto_scaling_group_name(group)
            .into_paginator()
            .send();
        while let Some(page) = policies.next().await {
            let page = page.map_err(|e| classify("DescribePolicies", e))?;
            writers.extend(page.scaling_policies().iter().map(|p| CapacityWriter {
                // AWS's default policy type when none was given.
                kind: p.policy_type().unwrap_or("SimpleScaling").to_owned(),
                name: p.policy_name().unwrap_or_default().to_owned(),
            }));
        }
        let mut scheduled = self
            .client
            .describe_scheduled_actions()
            .auto_scaling_group_name(group)
            .into_paginator()
            .send();
        while let Some(page) = scheduled.next().await {
            let page = page.map_err(|e| classify("DescribeScheduledActions", e))?;
            writers.extend(
                page.scheduled_update_group_actions()
                    .iter()
                    .map(|a| CapacityWriter {
                        kind: "ScheduledAction".to_owned(),
                        name: a.scheduled_action_name().unwrap_or_default().to_owned(),
                    }),
            );
        }
        writers.sort();
        Ok(writers)
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
            v.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                Error::aws(
                    "DescribeAutoScalingGroups",
                    format!("group {name} has no valid {what}"),
                )
            })
        };
        let bounds = Bounds::new(
            count(group.min_size, "MinSize")?,
            count(group.max_size, "MaxSize")?,
        )
        .map_err(|message| Error::aws("DescribeAutoScalingGroups", message))?;
        let instances = group
            .instances
            .unwrap_or_default()
            .into_iter()
            .map(|i| GroupInstance {
                id: i.instance_id.unwrap_or_default().into(),
                state: LifecycleState::parse(i.lifecycle_state.as_ref().map_or("", |s| s.as_str())),
                healthy: i.health_status.as_deref() == Some("Healthy"),
                protected_from_scale_in: i.protected_from_scale_in.unwrap_or(false),
            })
            .collect();
        let specification = group.launch_template.or_else(|| {
            group
                .mixed_instances_policy
                .and_then(|p| p.launch_template)
                .and_then(|t| t.launch_template_specification)
        });
        let launch_template = match specification {
            Some(spec) => Some(group_template(name, spec)?),
            None => None,
        };
        Ok(Some(GroupSnapshot {
            name: name.into(),
            warm_pool: group.warm_pool_configuration.is_some(),
            target_group_arns: group.target_group_arns.unwrap_or_default(),
            launch_template,
            bounds,
            desired: count(group.desired_capacity, "DesiredCapacity")?,
            instances,
        }))
    }

    async fn set_desired_capacity(&self, name: &str, desired: u32) -> Result<()> {
        let desired = i32::try_from(desired).map_err(|_| {
            Error::aws(
                "SetDesiredCapacity",
                format!("desired capacity {desired} is out of range"),
            )
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

#[async_trait]
impl GroupInstances for AsgScalingGroup {
    async fn protect_from_scale_in(
        &self,
        group: &str,
        instance: &InstanceId,
        protect: bool,
    ) -> Result<()> {
        self.client
            .set_instance_protection()
            .auto_scaling_group_name(group)
            .instance_ids(instance)
            .protected_from_scale_in(protect)
            .send()
            .await
            .map_err(|e| classify("SetInstanceProtection", e))?;
        Ok(())
    }

    async fn enter_standby(&self, group: &str, instance: &InstanceId) -> Result<()> {
        self.client
            .enter_standby()
            .auto_scaling_group_name(group)
            .instance_ids(instance)
            .should_decrement_desired_capacity(true)
            .send()
            .await
            .map_err(|e| classify("EnterStandby", e))?;
        Ok(())
    }

    async fn exit_standby(&self, group: &str, instance: &InstanceId) -> Result<()> {
        self.client
            .exit_standby()
            .auto_scaling_group_name(group)
            .instance_ids(instance)
            .send()
            .await
            .map_err(|e| classify("ExitStandby", e))?;
        Ok(())
    }

    async fn start_instance_refresh(
        &self,
        group: &str,
        refresh: &RefreshRequest,
    ) -> Result<String> {
        use aws_sdk_autoscaling::operation::start_instance_refresh::StartInstanceRefreshError;
        let started = self
            .client
            .start_instance_refresh()
            .auto_scaling_group_name(group)
            .strategy(RefreshStrategy::Rolling)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .launch_template_id(&refresh.launch_template_id)
                            .version(refresh.version.to_string())
                            .build(),
                    )
                    .build(),
            )
            .preferences(refresh_preferences(refresh))
            .send()
            .await;
        match started {
            Ok(out) => out
                .instance_refresh_id
                .ok_or_else(|| Error::aws("StartInstanceRefresh", "no refresh id in the answer")),
            Err(err) => match err.as_service_error() {
                Some(StartInstanceRefreshError::InstanceRefreshInProgressFault(_)) => {
                    Err(Error::Conflict(format!(
                        "an instance refresh of {group} is already in progress"
                    )))
                }
                _ => Err(classify("StartInstanceRefresh", err)),
            },
        }
    }

    async fn set_launch_template_version(
        &self,
        group: &str,
        template_id: &LaunchTemplateId,
        version: i64,
    ) -> Result<()> {
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(group)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(template_id)
                    .version(version.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("UpdateAutoScalingGroup", e))?;
        Ok(())
    }

    async fn rollback_instance_refresh(&self, group: &str) -> Result<bool> {
        use aws_sdk_autoscaling::operation::rollback_instance_refresh::RollbackInstanceRefreshError;
        match self
            .client
            .rollback_instance_refresh()
            .auto_scaling_group_name(group)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(RollbackInstanceRefreshError::ActiveInstanceRefreshNotFoundFault(_)) => {
                    Ok(false)
                }
                _ => Err(classify("RollbackInstanceRefresh", err)),
            },
        }
    }

    async fn refresh(&self, group: &str, refresh_id: &str) -> Result<Option<RefreshView>> {
        let out = self
            .client
            .describe_instance_refreshes()
            .auto_scaling_group_name(group)
            .instance_refresh_ids(refresh_id)
            .send()
            .await
            .map_err(|e| classify("DescribeInstanceRefreshes", e))?;
        Ok(out.instance_refreshes().first().map(|r| RefreshView {
            status: RefreshStatus::parse(r.status().map_or("", |s| s.as_str())),
            percentage_complete: r.percentage_complete().unwrap_or_default().clamp(0, 100) as u32,
            status_reason: r.status_reason().map(str::to_owned),
            rollback_reason: r
                .rollback_details()
                .and_then(|d| d.rollback_reason())
                .map(str::to_owned),
        }))
    }
}

/// A refresh's preferences: auto rollback always; the canary as checkpoints `[share, 100]` with
/// its bake as CheckpointDelay (a share of 100 is the whole group: no checkpoint); the alarms.
fn refresh_preferences(refresh: &RefreshRequest) -> RefreshPreferences {
    let mut preferences = RefreshPreferences::builder()
        .min_healthy_percentage(refresh.min_healthy_percentage)
        .max_healthy_percentage(refresh.max_healthy_percentage)
        .instance_warmup(refresh.instance_warmup_seconds)
        .auto_rollback(true)
        .skip_matching(false);
    if let Some(canary) = refresh.canary.filter(|c| c.percentage < 100) {
        preferences = preferences
            .checkpoint_percentages(canary.percentage as i32)
            .checkpoint_percentages(100)
            .checkpoint_delay(canary.bake_seconds as i32);
    }
    if !refresh.alarms.is_empty() {
        preferences = preferences.alarm_specification(
            AlarmSpecification::builder()
                .set_alarms(Some(refresh.alarms.clone()))
                .build(),
        );
    }
    preferences.build()
}

/// AWS's answer when no lifecycle action is active for the instance (completed, or timed out).
fn no_active_action(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.contains("No active Lifecycle Action found"))
}

#[async_trait]
impl LifecycleActions for AsgScalingGroup {
    async fn complete(&self, action: &LifecycleAction, result: LifecycleResult) -> Result<bool> {
        let completed = self
            .client
            .complete_lifecycle_action()
            .auto_scaling_group_name(&action.group)
            .lifecycle_hook_name(&action.hook)
            .instance_id(&action.instance_id)
            .set_lifecycle_action_token(action.token.clone())
            .lifecycle_action_result(result.as_str())
            .send()
            .await;
        match completed {
            Ok(_) => Ok(true),
            Err(err) if no_active_action(err.message()) => Ok(false),
            Err(err) => Err(classify("CompleteLifecycleAction", err)),
        }
    }

    async fn warm_pool_waiting(
        &self,
        group: &str,
    ) -> Result<Vec<(InstanceId, LifecycleTransition)>> {
        let mut waiting = Vec::new();
        let mut next = None;
        loop {
            let out = self
                .client
                .describe_warm_pool()
                .auto_scaling_group_name(group)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| classify("DescribeWarmPool", e))?;
            for instance in out.instances() {
                let transition = match instance.lifecycle_state().map(|s| s.as_str()) {
                    Some("Warmed:Pending:Wait") => LifecycleTransition::Launching,
                    Some("Warmed:Terminating:Wait") => LifecycleTransition::Terminating,
                    _ => continue,
                };
                waiting.extend(instance.instance_id().map(|id| (id.into(), transition)));
            }
            next = out.next_token().map(str::to_owned);
            if next.is_none() {
                return Ok(waiting);
            }
        }
    }

    async fn heartbeat(&self, action: &LifecycleAction) -> Result<bool> {
        let recorded = self
            .client
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(&action.group)
            .lifecycle_hook_name(&action.hook)
            .instance_id(&action.instance_id)
            .set_lifecycle_action_token(action.token.clone())
            .send()
            .await;
        match recorded {
            Ok(_) => Ok(true),
            Err(err) if no_active_action(err.message()) => Ok(false),
            Err(err) => Err(classify("RecordLifecycleActionHeartbeat", err)),
        }
    }
}

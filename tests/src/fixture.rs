//! A realistic cluster, seeded by the emulator's one seeder (the shape `template.yaml` creates: 3
//! subnets in 3 AZs, a launch template, an ASG of min 2 / max 10 with its lifecycle hooks, ALB +
//! target group, Multi-AZ RDS MySQL, a hosted zone with PRIMARY/SECONDARY failover records behind a
//! gate health check, the static site's bucket named like the record, the state table, the topic
//! and the alarms), and the checks tests make on it with the real SDK.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use serde::Deserialize;

use crate::Emulator;
use crate::emulator::unique_name;

pub const LAUNCH_HOOK: &str = "halfhour-launch";
pub const TERMINATE_HOOK: &str = "halfhour-terminate";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub table: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub image_id: String,
    pub launch_template_id: String,
    pub asg_name: String,
    pub target_group_arn: String,
    pub load_balancer_dns: String,
    pub db_instance_id: String,
    pub hosted_zone_id: String,
    pub record_name: String,
    pub site_health_check_id: String,
    pub gate_health_check_id: String,
    pub bucket: String,
    /// The notification topic the template makes for the cluster.
    pub topic_arn: String,
}

/// What the emulator's seeder answers.
#[derive(Deserialize)]
struct Seeded {
    env: BTreeMap<String, String>,
    vpc_id: String,
    subnet_ids: Vec<String>,
    image_id: String,
    bucket: String,
}

/// The template's default site check: HTTPS_STR_MATCH on this path, looking for this string.
pub const HEALTH_PATH: &str = "/health";
pub const SITE_HEALTHY: &str = "halfhour-healthy";

/// The template's default MaintenancePageKey.
pub const MAINTENANCE_PAGE: &str = "maintenance.html";

/// S3 on a loopback endpoint needs path-style addressing (no per-bucket DNS names).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// What a seeded cluster looks like where existing clusters differ.
#[derive(Debug, Clone)]
pub struct Shape {
    /// What the group's launch template version names: `$Default` (common on existing
    /// clusters) or a number (the created cluster, and any group after a refresh).
    pub group_version: &'static str,
    /// The launch template gives instances an instance profile, so SSM can reach them.
    pub instance_profile: bool,
    /// The launch template enables detailed (one-minute) monitoring.
    pub detailed_monitoring: bool,
    /// The target group's deregistration delay: how long EnterStandby takes.
    pub deregistration_delay_seconds: u32,
    /// The lifecycle hooks' HeartbeatTimeout (the template's LifecycleHeartbeatSeconds, 30..7200).
    pub heartbeat_seconds: u32,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            group_version: "$Default",
            instance_profile: true,
            detailed_monitoring: true,
            // Tests drain at once and advance the emulator clock past the template's default
            // heartbeat (300 s) only where they mean AWS's timeout to act: the stack allows 7200.
            deregistration_delay_seconds: 0,
            heartbeat_seconds: 3600,
        }
    }
}

impl Cluster {
    /// The static site's S3 website endpoint host (us-east-1's form).
    pub fn website_host(&self) -> String {
        format!("{}.s3-website-us-east-1.amazonaws.com", self.bucket)
    }

    /// Seed a fresh cluster with a unique name; its instances start InService.
    pub async fn seed() -> Result<Cluster, BoxError> {
        Cluster::seed_shaped(&Shape::default()).await
    }

    /// Seed a fresh cluster of the given shape, through the emulator's one seeder
    /// (`POST /_halfhour/seed`, tests/emulator/halfhour_emu/seed.py).
    pub async fn seed_shaped(shape: &Shape) -> Result<Cluster, BoxError> {
        let name = unique_name("hh");
        let request = serde_json::json!({
            "cluster": name,
            "group_version": shape.group_version,
            "instance_profile": shape.instance_profile,
            "detailed_monitoring": shape.detailed_monitoring,
            "deregistration_delay_seconds": shape.deregistration_delay_seconds,
            "heartbeat_seconds": shape.heartbeat_seconds,
        });
        // The control call blocks on a socket: off the test's runtime threads.
        let seeded = tokio::task::spawn_blocking(move || Emulator::shared().seed(&request)).await?;
        let seeded: Seeded = serde_json::from_value(seeded)?;
        let env = |key: &str| {
            seeded
                .env
                .get(key)
                .cloned()
                .ok_or_else(|| BoxError::from(format!("the seeder sets no {key}")))
        };
        Ok(Cluster {
            table: env("HALFHOUR_TABLE")?,
            launch_template_id: env("HALFHOUR_LAUNCH_TEMPLATE_ID")?,
            asg_name: env("HALFHOUR_ASG_NAME")?,
            target_group_arn: env("HALFHOUR_TARGET_GROUP_ARN")?,
            load_balancer_dns: env("HALFHOUR_LOAD_BALANCER_DNS")?,
            db_instance_id: env("HALFHOUR_DB_INSTANCE_ID")?,
            hosted_zone_id: env("HALFHOUR_HOSTED_ZONE_ID")?,
            record_name: env("HALFHOUR_RECORD_NAME")?,
            site_health_check_id: env("HALFHOUR_SITE_HEALTH_CHECK_ID")?,
            gate_health_check_id: env("HALFHOUR_GATE_HEALTH_CHECK_ID")?,
            topic_arn: env("HALFHOUR_NOTIFY_TOPIC_ARN")?,
            name,
            vpc_id: seeded.vpc_id,
            subnet_ids: seeded.subnet_ids,
            image_id: seeded.image_id,
            bucket: seeded.bucket,
        })
    }

    /// The group's instances as (instance id, lifecycle state), sorted by id.
    pub async fn instances(&self, config: &SdkConfig) -> Result<Vec<(String, String)>, BoxError> {
        let groups = aws_sdk_autoscaling::Client::new(config)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.asg_name)
            .send()
            .await?;
        let mut instances: Vec<(String, String)> = groups
            .auto_scaling_groups()
            .first()
            .ok_or("group exists")?
            .instances()
            .iter()
            .map(|i| {
                (
                    i.instance_id().unwrap_or_default().to_owned(),
                    i.lifecycle_state()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                )
            })
            .collect();
        instances.sort();
        Ok(instances)
    }

    /// A new version of the cluster's launch template: version 1 with `data` over it; its number.
    pub async fn new_template_version(
        &self,
        config: &SdkConfig,
        data: RequestLaunchTemplateData,
    ) -> Result<i64, BoxError> {
        Ok(aws_sdk_ec2::Client::new(config)
            .create_launch_template_version()
            .launch_template_id(&self.launch_template_id)
            .source_version("1")
            .launch_template_data(data)
            .send()
            .await?
            .launch_template_version
            .and_then(|v| v.version_number)
            .ok_or("version number")?)
    }

    pub async fn set_default_version(
        &self,
        config: &SdkConfig,
        version: i64,
    ) -> Result<(), BoxError> {
        aws_sdk_ec2::Client::new(config)
            .modify_launch_template()
            .launch_template_id(&self.launch_template_id)
            .default_version(version.to_string())
            .send()
            .await?;
        Ok(())
    }

    /// UpdateAutoScalingGroup: the group names `version` (a number, `$Default` or `$Latest`).
    pub async fn set_group_version(
        &self,
        config: &SdkConfig,
        version: &str,
    ) -> Result<(), BoxError> {
        aws_sdk_autoscaling::Client::new(config)
            .update_auto_scaling_group()
            .auto_scaling_group_name(&self.asg_name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(&self.launch_template_id)
                    .version(version)
                    .build(),
            )
            .send()
            .await?;
        Ok(())
    }

    /// The group's desired capacity now.
    pub async fn desired_capacity(&self, config: &SdkConfig) -> Result<i32, BoxError> {
        aws_sdk_autoscaling::Client::new(config)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.asg_name)
            .send()
            .await?
            .auto_scaling_groups()
            .first()
            .and_then(|g| g.desired_capacity())
            .ok_or_else(|| "the group has no desired capacity".into())
    }

    pub async fn instances_in(
        &self,
        config: &SdkConfig,
        state: &str,
    ) -> Result<Vec<String>, BoxError> {
        Ok(self
            .instances(config)
            .await?
            .into_iter()
            .filter(|(_, s)| s == state)
            .map(|(id, _)| id)
            .collect())
    }

    /// CONTINUE every instance that waits on one of the group's hooks (a launch, a termination):
    /// what the lifecycle loop does for healthy instances, where that loop is not under test.
    pub async fn continue_waiting(&self, config: &SdkConfig) -> Result<(), BoxError> {
        let asg = aws_sdk_autoscaling::Client::new(config);
        for (state, hook) in [
            ("Pending:Wait", LAUNCH_HOOK),
            ("Terminating:Wait", TERMINATE_HOOK),
        ] {
            for instance in self.instances_in(config, state).await? {
                asg.complete_lifecycle_action()
                    .auto_scaling_group_name(&self.asg_name)
                    .lifecycle_hook_name(hook)
                    .instance_id(instance)
                    .lifecycle_action_result("CONTINUE")
                    .send()
                    .await?;
            }
        }
        Ok(())
    }
}

/// The target group's 5xx alarm an instance refresh watches, as the template creates it (its
/// state is the test's to set: SetAlarmState).
pub async fn put_refresh_alarm(config: &SdkConfig, name: &str) -> Result<(), BoxError> {
    aws_sdk_cloudwatch::Client::new(config)
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(2)
        .threshold(10.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .send()
        .await?;
    Ok(())
}

/// Whether Route53's checkers find the endpoint check healthy now (GetHealthCheckStatus).
pub async fn reported_healthy(config: &SdkConfig, health_check_id: &str) -> Result<bool, BoxError> {
    let status = aws_sdk_route53::Client::new(config)
        .get_health_check_status()
        .health_check_id(health_check_id)
        .send()
        .await?;
    let report = status
        .health_check_observations()
        .first()
        .and_then(|o| o.status_report())
        .and_then(|r| r.status())
        .ok_or("no observation")?;
    Ok(report.starts_with("Success"))
}

/// An SNS topic for a loop's notifications; its ARN.
pub async fn create_topic(config: &SdkConfig, name: &str) -> Result<String, BoxError> {
    Ok(aws_sdk_sns::Client::new(config)
        .create_topic()
        .name(name)
        .send()
        .await?
        .topic_arn
        .ok_or("topic arn")?)
}

/// A bare state table as the template defines it (the emulator's seeder makes it).
pub async fn create_state_table(table: &str) -> Result<(), BoxError> {
    let request = serde_json::json!({ "table": table });
    tokio::task::spawn_blocking(move || Emulator::shared().seed_table(&request)).await?;
    Ok(())
}

/// Create an endpoint check on `host:port/health` of `kind` (looking for `halfhour-healthy`
/// when it matches strings); its id.
pub async fn endpoint_check(
    r53: &aws_sdk_route53::Client,
    reference: &str,
    kind: aws_sdk_route53::types::HealthCheckType,
    host: &str,
    port: i32,
) -> String {
    use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
    let string_match = matches!(
        kind,
        HealthCheckType::HttpStrMatch | HealthCheckType::HttpsStrMatch
    );
    r53.create_health_check()
        .caller_reference(reference)
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(kind)
                .fully_qualified_domain_name(host)
                .resource_path("/health")
                .port(port)
                .set_search_string(string_match.then(|| "halfhour-healthy".to_owned()))
                .build()
                .expect("a complete health-check config"),
        )
        .send()
        .await
        .expect("health check created")
        .health_check
        .expect("CreateHealthCheck answers the check")
        .id
}

//! A realistic cluster, seeded with the real SDK: 3 subnets in 3 AZs, a launch template, an
//! ASG (min 2 / max 10, lifecycle hooks), ALB + target group, Multi-AZ RDS MySQL, a hosted zone
//! with PRIMARY/SECONDARY failover records behind a gate health check, an S3 website bucket
//! named like the record, and the state table.

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplatesMonitoringRequest, RequestLaunchTemplateData,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerTypeEnum, ProtocolEnum, TargetGroupAttribute,
    TargetTypeEnum,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};

use halfhour::ports::StaticSite;

use crate::emulator::unique_name;

pub const LAUNCH_HOOK: &str = "halfhour-launch";
pub const TERMINATE_HOOK: &str = "halfhour-terminate";
/// S3 website endpoints' hosted zone in us-east-1 (AWS publishes one per region).
const S3_WEBSITE_ZONE_US_EAST_1: &str = "Z3AQBSTGFYJSTF";

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
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            group_version: "$Default",
            instance_profile: true,
            detailed_monitoring: true,
            deregistration_delay_seconds: 0,
        }
    }
}

impl Cluster {
    /// The static site's S3 website endpoint host (us-east-1's form).
    pub fn website_host(&self) -> String {
        format!("{}.s3-website-us-east-1.amazonaws.com", self.bucket)
    }

    /// Seed a fresh cluster with a unique name; its instances start InService.
    pub async fn seed(config: &SdkConfig) -> Result<Cluster, BoxError> {
        Cluster::seed_shaped(config, &Shape::default()).await
    }

    /// Seed a fresh cluster of the given shape.
    pub async fn seed_shaped(config: &SdkConfig, shape: &Shape) -> Result<Cluster, BoxError> {
        let name = unique_name("hh");
        let ec2 = aws_sdk_ec2::Client::new(config);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
        let asg = aws_sdk_autoscaling::Client::new(config);

        let vpc_id = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await?
            .vpc
            .and_then(|v| v.vpc_id)
            .ok_or("vpc id")?;
        let mut subnet_ids = Vec::new();
        for (i, az) in ["us-east-1a", "us-east-1b", "us-east-1c"]
            .iter()
            .enumerate()
        {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(format!("10.0.{i}.0/24"))
                .availability_zone(*az)
                .send()
                .await?;
            subnet_ids.push(subnet.subnet.and_then(|s| s.subnet_id).ok_or("subnet id")?);
        }
        let image_id = ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await?
            .images
            .unwrap_or_default()
            .into_iter()
            .find_map(|i| i.image_id)
            .ok_or("a base image")?;
        let launch_template_id = ec2
            .create_launch_template()
            .launch_template_name(format!("{name}-web"))
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id(&image_id)
                    .instance_type(InstanceType::T3Micro)
                    .set_iam_instance_profile(shape.instance_profile.then(|| {
                        LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                            .name(format!("{name}-web"))
                            .build()
                    }))
                    .monitoring(
                        LaunchTemplatesMonitoringRequest::builder()
                            .enabled(shape.detailed_monitoring)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await?
            .launch_template
            .and_then(|t| t.launch_template_id)
            .ok_or("launch template id")?;

        let lb = elb
            .create_load_balancer()
            .name(format!("{name}-alb"))
            .r#type(LoadBalancerTypeEnum::Application)
            .set_subnets(Some(subnet_ids.clone()))
            .send()
            .await?
            .load_balancers
            .and_then(|l| l.into_iter().next())
            .ok_or("load balancer")?;
        let load_balancer_arn = lb.load_balancer_arn.ok_or("lb arn")?;
        let load_balancer_dns = lb.dns_name.ok_or("lb dns")?;
        let target_group_arn = elb
            .create_target_group()
            .name(format!("{name}-web"))
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc_id)
            .target_type(TargetTypeEnum::Instance)
            .health_check_path("/health")
            .send()
            .await?
            .target_groups
            .and_then(|t| t.into_iter().next())
            .and_then(|t| t.target_group_arn)
            .ok_or("target group arn")?;
        elb.modify_target_group_attributes()
            .target_group_arn(&target_group_arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(shape.deregistration_delay_seconds.to_string())
                    .build(),
            )
            .send()
            .await?;
        elb.create_listener()
            .load_balancer_arn(&load_balancer_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&target_group_arn)
                    .build(),
            )
            .send()
            .await?;

        let asg_name = format!("{name}-asg");
        asg.create_auto_scaling_group()
            .auto_scaling_group_name(&asg_name)
            .min_size(2)
            .max_size(10)
            .desired_capacity(2)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id(&launch_template_id)
                    .version(shape.group_version)
                    .build(),
            )
            .vpc_zone_identifier(subnet_ids.join(","))
            .target_group_arns(&target_group_arn)
            .health_check_type("ELB")
            .health_check_grace_period(300)
            .tags(
                AsgTag::builder()
                    .key("halfhour:cluster")
                    .value(&name)
                    .propagate_at_launch(true)
                    .build(),
            )
            .send()
            .await?;
        asg.put_lifecycle_hook()
            .auto_scaling_group_name(&asg_name)
            .lifecycle_hook_name(LAUNCH_HOOK)
            .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
            .heartbeat_timeout(3600)
            .default_result("ABANDON")
            .send()
            .await?;
        asg.put_lifecycle_hook()
            .auto_scaling_group_name(&asg_name)
            .lifecycle_hook_name(TERMINATE_HOOK)
            .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
            .heartbeat_timeout(3600)
            .default_result("CONTINUE")
            .send()
            .await?;

        let db_instance_id = format!("{name}-db");
        aws_sdk_rds::Client::new(config)
            .create_db_instance()
            .db_instance_identifier(&db_instance_id)
            .engine("mysql")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .multi_az(true)
            .backup_retention_period(7)
            .master_username("admin")
            .manage_master_user_password(true)
            .send()
            .await?;

        let record_name = format!("www.{name}.example.com");
        let (hosted_zone_id, site_health_check_id, gate_health_check_id) =
            seed_dns(config, &name, &record_name, &load_balancer_dns).await?;

        // The static site's bucket as the deploy leaves it (Custom::StaticSiteBucket, website
        // mode): made by the product's own adapter, nothing published yet.
        let bucket = record_name.clone();
        s3_client(config)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await?;
        halfhour::aws::s3::S3StaticSite::new(config)
            .configure_bucket(
                &bucket,
                &halfhour::domain::ClusterName::new(&name)?,
                true,
                MAINTENANCE_PAGE,
            )
            .await?;

        let table = format!("{name}-state");
        create_state_table(config, &table).await?;

        Ok(Cluster {
            name,
            table,
            vpc_id,
            subnet_ids,
            image_id,
            launch_template_id,
            asg_name,
            target_group_arn,
            load_balancer_dns,
            db_instance_id,
            hosted_zone_id,
            record_name,
            site_health_check_id,
            gate_health_check_id,
            bucket,
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

/// Zone, site health check, CALCULATED gate (child: the site check), PRIMARY and SECONDARY.
async fn seed_dns(
    config: &SdkConfig,
    name: &str,
    record_name: &str,
    load_balancer_dns: &str,
) -> Result<(String, String, String), BoxError> {
    let r53 = aws_sdk_route53::Client::new(config);
    let zone = r53
        .create_hosted_zone()
        .name(format!("{name}.example.com"))
        .caller_reference(format!("{name}-zone"))
        .send()
        .await?;
    let hosted_zone_id = zone
        .hosted_zone
        .map(|z| z.id.trim_start_matches("/hostedzone/").to_owned())
        .ok_or("hosted zone")?;
    let site = r53
        .create_health_check()
        .caller_reference(format!("{name}-site"))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::HttpsStrMatch)
                .fully_qualified_domain_name(load_balancer_dns)
                .resource_path(HEALTH_PATH)
                .search_string(SITE_HEALTHY)
                .port(443)
                .enable_sni(true)
                .request_interval(30)
                .failure_threshold(3)
                .build()?,
        )
        .send()
        .await?
        .health_check
        .map(|h| h.id)
        .ok_or("site health check")?;
    let gate = r53
        .create_health_check()
        .caller_reference(format!("{name}-gate"))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Calculated)
                .child_health_checks(&site)
                .health_threshold(1)
                .build()?,
        )
        .send()
        .await?
        .health_check
        .map(|h| h.id)
        .ok_or("gate health check")?;
    let record = |failover: ResourceRecordSetFailover,
                  id: &str,
                  zone: &str,
                  dns: &str,
                  check: Option<&str>| {
        ResourceRecordSet::builder()
            .name(record_name)
            .r#type(RrType::A)
            .set_identifier(id)
            .failover(failover)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(zone)
                    .dns_name(dns)
                    .evaluate_target_health(false)
                    .build()?,
            )
            .set_health_check_id(check.map(str::to_owned))
            .build()
            .map_err(BoxError::from)
    };
    r53.change_resource_record_sets()
        .hosted_zone_id(&hosted_zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(record(
                            ResourceRecordSetFailover::Primary,
                            "primary",
                            "Z35SXDOTRQ7X7K",
                            load_balancer_dns,
                            Some(&gate),
                        )?)
                        .build()?,
                )
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(record(
                            ResourceRecordSetFailover::Secondary,
                            "secondary",
                            S3_WEBSITE_ZONE_US_EAST_1,
                            "s3-website-us-east-1.amazonaws.com",
                            None,
                        )?)
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await?;
    Ok((hosted_zone_id, site, gate))
}

/// The state table as the SAM template defines it: `pk`/`sk` strings, on-demand, TTL on `ttl`.
pub async fn create_state_table(config: &SdkConfig, table: &str) -> Result<(), BoxError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()?,
        )
        .send()
        .await?;
    dynamodb
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()?,
        )
        .send()
        .await?;
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

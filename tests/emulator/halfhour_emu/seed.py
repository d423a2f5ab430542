"""The one seeder: a cluster of the shape ``template.yaml`` creates, made through the emulator's own
AWS endpoints (so every behaviour the emulator adds applies to it), as ``POST /_halfhour/seed``
answers it. The Rust fixture, the demo and the bench all seed through that route.

What it makes: a VPC with 3 subnets in 3 AZs, a launch template, an ALB + target group + listener,
the group (min 2 / max 10, the two lifecycle hooks, the cluster tag), a Multi-AZ RDS MySQL, a
hosted zone with the site check, the CALCULATED gate and the PRIMARY/SECONDARY failover pair, the
static site's bucket as the deploy configures it, the state table, the topic and the alarms.
Its calls are logged under the app name ``halfhour-seed`` (never a function's)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, fields
from typing import Any

from .iam import ACCOUNT, register_stack
from .stack import Stack, function_binaries, load
from .state import STATE

APP = "halfhour-seed"
# The template's default MaintenancePageKey.
MAINTENANCE_PAGE = "maintenance.html"
# Alias targets' hosted zones in us-east-1 (AWS publishes one per region and service):
# https://docs.aws.amazon.com/general/latest/gr/elb.html, .../s3.html#s3_website_region_endpoints
LOAD_BALANCER_ZONE, S3_WEBSITE_ZONE, CLOUDFRONT_ZONE = "Z35SXDOTRQ7X7K", "Z3AQBSTGFYJSTF", "Z2FDTNDATAQYW2"
SERVICES = ("ec2", "autoscaling", "elbv2", "route53", "s3", "dynamodb", "rds", "sns", "cloudwatch", "iam", "kms")


@dataclass(frozen=True)
class Shape:
    """What one seeded cluster looks like where clusters differ; the defaults are the template's."""

    cluster: str
    # 0 seeds the group empty (its first launches meet the launch hook); else that many instances,
    # InService.
    capacity: int = 2
    # As a `DryRun=true` stack leaves a live site: the launch hook defaults to CONTINUE and the
    # site's own record (a plain alias to the load balancer) stays; no failover pair is made.
    observe: bool = False
    # The static side as the CloudFront mode makes it: a private bucket behind a distribution,
    # the SECONDARY record aliased to the distribution.
    cloudfront: bool = False
    # What the group's launch template version names: `$Default` (common on existing clusters)
    # or a number (the created cluster, and any group after a refresh).
    group_version: str = "$Default"
    # The launch template gives instances an instance profile (SSM can reach them) and detailed
    # (one-minute) monitoring.
    instance_profile: bool = True
    detailed_monitoring: bool = True
    # The target group's deregistration delay: how long EnterStandby drains.
    deregistration_delay_seconds: int = 30
    # The lifecycle hooks' HeartbeatTimeout (the template's LifecycleHeartbeatSeconds, 30..7200).
    heartbeat_seconds: int = 300

    @staticmethod
    def from_request(payload: dict[str, Any]) -> "Shape":
        """A shape from a control request's body; an unknown field is a bad request, not ignored."""
        known = {f.name for f in fields(Shape)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"unknown seed fields {unknown}; known: {sorted(known)}")
        if "cluster" not in payload:
            raise ValueError("seed needs a cluster name")
        return Shape(**payload)


_clients: dict[str, dict[str, Any]] = {}
_clients_lock = threading.Lock()
_session: list[Any] = []  # one boto3 session: its loader keeps botocore's models once loaded


def clients(endpoint: str) -> dict[str, Any]:
    """boto3 clients of every service the seeder calls, made once per endpoint (the first ones
    load botocore's models, ~0.4 s; `warm` does it at start-up, beside the caller's own set-up)."""
    with _clients_lock:
        if endpoint not in _clients:
            import boto3
            from botocore.config import Config

            if not _session:
                _session.append(boto3.session.Session())
            session = _session[0]
            kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing",
                      config=Config(user_agent_appid=APP, s3={"addressing_style": "path"}))
            _clients[endpoint] = {name: session.client(name, **kw) for name in SERVICES}
        return _clients[endpoint]


def warm(endpoint: str) -> None:
    threading.Thread(target=clients, args=(endpoint,), daemon=True).start()


def seed(endpoint: str, shape: Shape) -> dict[str, Any]:
    """Seed `shape` through the AWS endpoints at `endpoint`. The answer: `env`, the functions'
    environment as the template sets it for this cluster, and the ids a test needs beside it."""
    c = clients(endpoint)
    ec2, asg, elb, r53, s3 = c["ec2"], c["autoscaling"], c["elbv2"], c["route53"], c["s3"]
    cluster = shape.cluster

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
        for i, zone in enumerate("abc")
    ]
    image = base_image()
    data: dict[str, Any] = {"ImageId": image, "InstanceType": "t3.micro",
                            "Monitoring": {"Enabled": shape.detailed_monitoring}}
    role_arn = ""
    if shape.instance_profile:
        role_arn = instance_profile(c["iam"], f"{cluster}-web")
        data["IamInstanceProfile"] = {"Name": f"{cluster}-web"}
    template = ec2.create_launch_template(LaunchTemplateName=f"{cluster}-web", LaunchTemplateData=data)[
        "LaunchTemplate"]["LaunchTemplateId"]
    lb = elb.create_load_balancer(Name=f"{cluster}-alb", Subnets=subnets, Type="application")["LoadBalancers"][0]
    target_group = elb.create_target_group(
        Name=f"{cluster}-web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance", HealthCheckPath="/health"
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(TargetGroupArn=target_group, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(shape.deregistration_delay_seconds)}])
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
    )
    group = f"{cluster}-web"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=min(2, shape.capacity), MaxSize=10, DesiredCapacity=shape.capacity,
        LaunchTemplate={"LaunchTemplateId": template, "Version": shape.group_version},
        VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[target_group], HealthCheckType="ELB",
        HealthCheckGracePeriod=120,
        Tags=[{"Key": "halfhour:cluster", "Value": cluster, "PropagateAtLaunch": True}],
    )
    for name, transition, default in (
        ("halfhour-launch", "autoscaling:EC2_INSTANCE_LAUNCHING", "CONTINUE" if shape.observe else "ABANDON"),
        ("halfhour-terminate", "autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE"),
    ):
        asg.put_lifecycle_hook(
            AutoScalingGroupName=group, LifecycleHookName=name, LifecycleTransition=transition,
            HeartbeatTimeout=shape.heartbeat_seconds, DefaultResult=default,
        )
    db = f"{cluster}-db"
    c["rds"].create_db_instance(
        DBInstanceIdentifier=db, Engine="mysql", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MultiAZ=True, BackupRetentionPeriod=7, MasterUsername="admin", ManageMasterUserPassword=True,
    )
    record = f"www.{cluster}.example.com"
    zone = r53.create_hosted_zone(Name=f"{cluster}.example.com", CallerReference=f"{cluster}-zone")[
        "HostedZone"]["Id"].split("/")[-1]
    site = r53.create_health_check(CallerReference=f"{cluster}-site", HealthCheckConfig={
        "Type": "HTTPS_STR_MATCH", "FullyQualifiedDomainName": lb["DNSName"], "ResourcePath": "/health",
        "SearchString": "halfhour-healthy", "Port": 443, "EnableSNI": True, "RequestInterval": 30, "FailureThreshold": 3,
    })["HealthCheck"]["Id"]
    gate = r53.create_health_check(CallerReference=f"{cluster}-gate", HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": [site], "HealthThreshold": 1,
    })["HealthCheck"]["Id"]
    static_target, static_zone, static_url = static_site(endpoint, s3, record, cluster, cloudfront=shape.cloudfront)

    def alias(target: str, zone_id: str) -> dict[str, Any]:
        return {"HostedZoneId": zone_id, "DNSName": target, "EvaluateTargetHealth": False}

    def failover(role: str, target: str, zone_id: str, check: str | None) -> dict[str, Any]:
        record_set = {"Name": record, "Type": "A", "SetIdentifier": role.lower(), "Failover": role,
                      "AliasTarget": alias(target, zone_id)}
        if check:
            record_set["HealthCheckId"] = check
        return {"Action": "UPSERT", "ResourceRecordSet": record_set}

    site_record = {"Action": "CREATE", "ResourceRecordSet": {
        "Name": record, "Type": "A", "AliasTarget": alias(lb["DNSName"], LOAD_BALANCER_ZONE)}}
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [site_record] if shape.observe else [
        failover("PRIMARY", lb["DNSName"], LOAD_BALANCER_ZONE, gate),
        failover("SECONDARY", static_target, static_zone, None),
    ]})
    table = f"{cluster}-state"
    create_state_table(c["dynamodb"], table)
    # The topic encrypted with the stack's own key (NotificationKey), as the template makes it.
    key = c["kms"].create_key(Description=f"halfhour {cluster} notifications")["KeyMetadata"]
    topic = c["sns"].create_topic(Name=f"{cluster}-notify", Attributes={"KmsMasterKeyId": key["KeyId"]})["TopicArn"]
    refresh_alarms = put_alarms(c["cloudwatch"], cluster, group, target_group, lb["LoadBalancerArn"])
    env = {
        "HALFHOUR_TABLE": table,
        "HALFHOUR_CLUSTER": cluster,
        "HALFHOUR_ASG_NAME": group,
        "HALFHOUR_SCALING_ALARMS": f"{cluster}-cpu-high=+2,{cluster}-cpu-low=-1",
        "HALFHOUR_REFRESH_ALARMS": ",".join(refresh_alarms),
        "HALFHOUR_DB_INSTANCE_ID": db,
        "HALFHOUR_HOSTED_ZONE_ID": zone,
        "HALFHOUR_RECORD_NAME": record,
        "HALFHOUR_SITE_HEALTH_CHECK_ID": site,
        "HALFHOUR_GATE_HEALTH_CHECK_ID": gate,
        "HALFHOUR_NOTIFY_TOPIC_ARN": topic,
        "HALFHOUR_TARGET_GROUP_ARN": target_group,
        "HALFHOUR_LAUNCH_TEMPLATE_ID": template,
        "HALFHOUR_STATIC_SITE_URL": static_url,
        "HALFHOUR_STATIC_SITE_MODE": "cloudfront" if shape.cloudfront else "website",
        "HALFHOUR_LOAD_BALANCER_DNS": lb["DNSName"],
        # The template's Globals: the service every decision line names, the metrics' namespace
        # (its MetricsNamespace parameter; a seeded cluster's is its own, to show it is honoured).
        "POWERTOOLS_SERVICE_NAME": "halfhour",
        "POWERTOOLS_METRICS_NAMESPACE": f"halfhour/{cluster}",
    }
    # The stack an operator of this existing cluster deploys: its parameters, and the physical
    # ids of what it creates; each function's role as template.yaml gives it (iam.py holds a
    # function's calls to it).
    parameters = {
        "ClusterName": cluster, "AutoScalingGroupName": group, "LaunchTemplateId": template,
        "TargetGroupArn": target_group, "InstanceRoleArn": role_arn, "DbInstanceIdentifier": db,
        "HostedZoneId": zone, "RecordName": record, "LoadBalancerDnsName": lb["DNSName"],
        "LoadBalancerHostedZoneId": LOAD_BALANCER_ZONE, "RefreshAlarmNames": ",".join(refresh_alarms),
        "LifecycleHeartbeatSeconds": str(shape.heartbeat_seconds), "MetricsNamespace": f"halfhour/{cluster}",
        "DryRun": str(shape.observe).lower(),
        "StaticSiteCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/{cluster}" if shape.cloudfront else "",
    }
    resources = {
        "StateTable": {"Ref": table, "Arn": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}"},
        "NotificationTopic": {"Ref": topic},
        "NotificationKey": {"Ref": key["KeyId"], "Arn": key["Arn"]},
        "SiteHealthCheck": {"Ref": site}, "GateHealthCheck": {"Ref": gate},
        **{logical: {"Ref": f"{cluster}-{binary}", "Arn": function_arn(cluster, binary)}
           for logical, binary in function_binaries(load()).items()},
    }
    register_stack(cluster, Stack(load(), parameters, resources).function_policies())
    return {"env": env, "vpc_id": vpc, "subnet_ids": subnets, "image_id": image, "bucket": record}


def function_arn(cluster: str, binary: str) -> str:
    """The ARN a seeded cluster's stack gives the function running `binary`."""
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{cluster}-{binary}"


def instance_profile(iam: Any, name: str) -> str:
    """An instance profile holding a role of the same name, as an existing cluster's instances
    have one (what the stack's InstanceRoleArn names): the role's ARN."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return role


def base_image() -> str:
    """The first of the Amazon images moto ships, read from its backend: DescribeImages over HTTP
    answers all 1,177 of them (0.7 s of rendering and parsing, most of a seed)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].describe_images(owners=["amazon"])[0].id


def static_site(endpoint: str, s3: Any, bucket: str, cluster: str, *, cloudfront: bool) -> tuple[str, str, str]:
    """The static page's bucket as the deploy leaves it (Custom::StaticSiteBucket: tagged,
    encrypted, versioned, ACLs blocked; a website read by the public, or private behind CloudFront),
    nothing published yet. Its SECONDARY alias target and zone, and the URL visitors of the static
    side use."""
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "halfhour:cluster", "Value": cluster}]})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": cloudfront,
        "RestrictPublicBuckets": cloudfront})
    if cloudfront:
        from .visitors import _static_distribution

        with STATE.lock:
            distribution = _static_distribution({"bucket": bucket, "alias": bucket})
        statement = {"Sid": "TheDistributionReadsThePage", "Effect": "Allow",
                     "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{bucket}/*",
                     "Condition": {"StringEquals": {"AWS:SourceArn": distribution["arn"]}}}
        target, zone = distribution["domain_name"], CLOUDFRONT_ZONE
        url = f"{endpoint}/_halfhour/site/{target}/"
    else:
        # Every path shows the page: it is the index and the error document.
        s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
            "IndexDocument": {"Suffix": MAINTENANCE_PAGE}, "ErrorDocument": {"Key": MAINTENANCE_PAGE}})
        statement = {"Sid": "PublicReadOfTheStaticPageOnly", "Effect": "Allow", "Principal": "*",
                     "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        target, zone = "s3-website-us-east-1.amazonaws.com", S3_WEBSITE_ZONE
        url = f"{endpoint}/_halfhour/site/{bucket}.s3-website-us-east-1.amazonaws.com/"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    return target, zone, url


def create_state_table(dynamodb: Any, table: str) -> None:
    """The state table as the template defines it: `pk`/`sk` strings, on-demand, TTL on `ttl`."""
    dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})


def put_alarms(cw: Any, cluster: str, group: str, target_group: str, load_balancer: str) -> tuple[str, str]:
    """The scaling alarms on the group's CPU, and what an instance refresh watches (the template's
    WebTargetErrorsAlarm, WebUnhealthyHostsAlarm: the target group's 5xx answers and unhealthy
    hosts); the two refresh alarms' names."""
    for name, threshold, operator, points in (
        (f"{cluster}-cpu-high", 70.0, "GreaterThanThreshold", (2, 3)),
        (f"{cluster}-cpu-low", 25.0, "LessThanThreshold", (10, 10)),
    ):
        cw.put_metric_alarm(
            AlarmName=name, Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average", Period=60,
            DatapointsToAlarm=points[0], EvaluationPeriods=points[1], Threshold=threshold, ComparisonOperator=operator,
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
        )
    dimensions = [{"Name": "TargetGroup", "Value": target_group.split(":")[-1]},
                  {"Name": "LoadBalancer", "Value": load_balancer.split(":loadbalancer/")[-1]}]
    refresh_alarms = (f"{cluster}-web-5xx", f"{cluster}-web-unhealthy")
    for name, metric, statistic, threshold in zip(refresh_alarms, ("HTTPCode_Target_5XX_Count", "UnHealthyHostCount"),
                                                  ("Sum", "Maximum"), (10.0, 1.0)):
        cw.put_metric_alarm(
            AlarmName=name, Namespace="AWS/ApplicationELB", MetricName=metric, Statistic=statistic, Period=60,
            DatapointsToAlarm=2, EvaluationPeriods=2, Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching", Dimensions=dimensions,
        )
    return refresh_alarms

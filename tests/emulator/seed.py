"""Seed a realistic halfhour cluster into a running emulator (the same shape as the Rust test
fixture) and print its identifiers as JSON; they are the functions' environment.

    python seed.py --endpoint http://127.0.0.1:5000 --cluster prod
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3
from halfhour_emu.client import EmulatorClient

# The template's default MaintenancePageKey.
MAINTENANCE_PAGE = "maintenance.html"


def seed(endpoint: str, cluster: str, capacity: int = 2, observe: bool = False,
         cloudfront: bool = False) -> dict[str, str]:
    """`capacity` 0 seeds the group empty (the demo then launches its first instances, which meet
    the launch hook); otherwise it starts with that many instances, InService. `observe` seeds it
    as a `DryRun=true` stack leaves a live site: the launch hook defaults to CONTINUE, and the
    site's own record (a plain alias to the load balancer) stays; no failover pair is made.
    `cloudfront` seeds the static side as the template's CloudFront mode makes it (a private
    bucket behind a distribution, the SECONDARY record aliased to it)."""
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    ec2, asg, elb = boto3.client("ec2", **kw), boto3.client("autoscaling", **kw), boto3.client("elbv2", **kw)
    r53, s3, ddb = boto3.client("route53", **kw), boto3.client("s3", **kw), boto3.client("dynamodb", **kw)
    rds, sns, cw = boto3.client("rds", **kw), boto3.client("sns", **kw), boto3.client("cloudwatch", **kw)

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
        for i, zone in enumerate("abc")
    ]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    # As the template's created cluster: an instance profile (SSM reaches the instances) and
    # detailed monitoring (one-minute CPU datapoints for the alarms).
    template = ec2.create_launch_template(LaunchTemplateName=f"{cluster}-web", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": f"{cluster}-web"},
        "Monitoring": {"Enabled": True},
    })["LaunchTemplate"]["LaunchTemplateId"]
    lb = elb.create_load_balancer(Name=f"{cluster}-alb", Subnets=subnets, Type="application")["LoadBalancers"][0]
    target_group = elb.create_target_group(
        Name=f"{cluster}-web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance", HealthCheckPath="/health"
    )["TargetGroups"][0]["TargetGroupArn"]
    # The template's deregistration delay: EnterStandby drains this long.
    elb.modify_target_group_attributes(TargetGroupArn=target_group, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
    )
    group = f"{cluster}-web"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=min(2, capacity), MaxSize=10, DesiredCapacity=capacity,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Default"},
        VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[target_group], HealthCheckType="ELB",
        Tags=[{"Key": "halfhour:cluster", "Value": cluster, "PropagateAtLaunch": True}],
    )
    for name, transition, default in (
        ("halfhour-launch", "autoscaling:EC2_INSTANCE_LAUNCHING", "CONTINUE" if observe else "ABANDON"),
        ("halfhour-terminate", "autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE"),
    ):
        asg.put_lifecycle_hook(
            AutoScalingGroupName=group, LifecycleHookName=name, LifecycleTransition=transition,
            HeartbeatTimeout=300, DefaultResult=default,
        )
    db = f"{cluster}-db"
    rds.create_db_instance(
        DBInstanceIdentifier=db, Engine="mysql", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MultiAZ=True, BackupRetentionPeriod=7, MasterUsername="admin", ManageMasterUserPassword=True,
    )
    record = f"www.{cluster}.example.com"
    zone = r53.create_hosted_zone(Name=f"{cluster}.example.com", CallerReference=f"{cluster}-zone")["HostedZone"]["Id"].split("/")[-1]
    site = r53.create_health_check(CallerReference=f"{cluster}-site", HealthCheckConfig={
        "Type": "HTTPS_STR_MATCH", "FullyQualifiedDomainName": lb["DNSName"], "ResourcePath": "/health",
        "SearchString": "halfhour-healthy", "Port": 443, "EnableSNI": True, "RequestInterval": 30, "FailureThreshold": 3,
    })["HealthCheck"]["Id"]
    gate = r53.create_health_check(CallerReference=f"{cluster}-gate", HealthCheckConfig={
        "Type": "CALCULATED", "ChildHealthChecks": [site], "HealthThreshold": 1,
    })["HealthCheck"]["Id"]

    def failover(role: str, target: str, zone_id: str, check: str | None) -> dict:
        record_set = {"Name": record, "Type": "A", "SetIdentifier": role.lower(), "Failover": role,
                      "AliasTarget": {"HostedZoneId": zone_id, "DNSName": target, "EvaluateTargetHealth": False}}
        if check:
            record_set["HealthCheckId"] = check
        return {"Action": "UPSERT", "ResourceRecordSet": record_set}

    site_record = {"Action": "CREATE", "ResourceRecordSet": {"Name": record, "Type": "A", "AliasTarget": {
        "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": lb["DNSName"], "EvaluateTargetHealth": False}}}
    s3.create_bucket(Bucket=record)
    if cloudfront:
        # The static side behind CloudFront: a private bucket only the distribution reads.
        distribution = EmulatorClient(endpoint).static_distribution(record, record)
        s3.put_public_access_block(Bucket=record, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        statement = {"Sid": "TheDistributionReadsThePage", "Effect": "Allow",
                     "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{record}/*",
                     "Condition": {"StringEquals": {"AWS:SourceArn": distribution["arn"]}}}
        static_target, static_zone = distribution["domain_name"], "Z2FDTNDATAQYW2"
        static_url = f"{endpoint}/_halfhour/site/{static_target}/"
    else:
        # The static site's bucket as the deploy leaves it (Custom::StaticSiteBucket, website mode).
        s3.put_bucket_website(Bucket=record, WebsiteConfiguration={
            "IndexDocument": {"Suffix": MAINTENANCE_PAGE}, "ErrorDocument": {"Key": MAINTENANCE_PAGE}})
        statement = {"Sid": "PublicReadOfTheStaticPageOnly", "Effect": "Allow", "Principal": "*",
                     "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{record}/*"}
        static_target, static_zone = "s3-website-us-east-1.amazonaws.com", "Z3AQBSTGFYJSTF"
        static_url = f"{endpoint}/_halfhour/site/{record}.s3-website-us-east-1.amazonaws.com/"
    s3.put_bucket_policy(Bucket=record, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [site_record] if observe else [
        failover("PRIMARY", lb["DNSName"], "Z35SXDOTRQ7X7K", gate),
        failover("SECONDARY", static_target, static_zone, None),
    ]})
    table = f"{cluster}-state"
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    topic = sns.create_topic(Name=f"{cluster}-notify")["TopicArn"]
    for name, threshold, operator, points in (
        (f"{cluster}-cpu-high", 70.0, "GreaterThanThreshold", (2, 3)),
        (f"{cluster}-cpu-low", 25.0, "LessThanThreshold", (10, 10)),
    ):
        cw.put_metric_alarm(
            AlarmName=name, Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average", Period=60,
            DatapointsToAlarm=points[0], EvaluationPeriods=points[1], Threshold=threshold, ComparisonOperator=operator,
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": group}],
        )
    # What an instance refresh watches, as the template creates it (WebTargetErrorsAlarm,
    # WebUnhealthyHostsAlarm): the target group's 5xx answers and unhealthy hosts.
    dimensions = [{"Name": "TargetGroup", "Value": target_group.split(":")[-1]},
                  {"Name": "LoadBalancer", "Value": lb["LoadBalancerArn"].split(":loadbalancer/")[-1]}]
    refresh_alarms = (f"{cluster}-web-5xx", f"{cluster}-web-unhealthy")
    for name, metric, statistic, threshold in zip(refresh_alarms, ("HTTPCode_Target_5XX_Count", "UnHealthyHostCount"),
                                                  ("Sum", "Maximum"), (10.0, 1.0)):
        cw.put_metric_alarm(
            AlarmName=name, Namespace="AWS/ApplicationELB", MetricName=metric, Statistic=statistic, Period=60,
            DatapointsToAlarm=2, EvaluationPeriods=2, Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching", Dimensions=dimensions,
        )
    return {
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
        "HALFHOUR_STATIC_SITE_MODE": "cloudfront" if cloudfront else "website",
        "HALFHOUR_LOAD_BALANCER_DNS": lb["DNSName"],
        # The template's Globals: the service every decision line names, the metrics' namespace
        # (its MetricsNamespace parameter; the demo's is its own, to show it is honoured).
        "POWERTOOLS_SERVICE_NAME": "halfhour",
        "POWERTOOLS_METRICS_NAMESPACE": f"halfhour/{cluster}",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:5000")
    parser.add_argument("--cluster", default="prod")
    parser.add_argument("--capacity", type=int, default=2, help="0 seeds the group empty (its first launches meet the hook)")
    args = parser.parse_args(argv)
    json.dump(seed(args.endpoint, args.cluster, args.capacity), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()

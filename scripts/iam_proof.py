#!/usr/bin/env python3
"""IAM proof: the AWS actions each function performed in the integration tests are all granted
by its policy in template.yaml, and every action its policy grants was performed (or is implied
by one that was, or is justified in the function's `GrantedNotCalled` metadata).

The emulator appends every request to $HALFHOUR_REQUEST_LOG (JSON lines: app, service, action);
a function under test calls AWS under the app name `<function crate>.<test>`
(`Emulator::function_sdk_config`). Run with the tools venv's python (it has cfn-lint's loader):

    scripts/iam_proof.py template.yaml requests.jsonl
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from cfnlint.decode import decode

# The wire operation -> IAM action names and the calls AWS authorises inside others, shared with
# the emulator's IAM (stdlib only).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "emulator"))
from halfhour_emu.iam import IMPLIED_BY, ONTO_A_TEMPLATE, iam_action  # noqa: E402

# The ec2:CreateAction under which each call's tags on create are authorized: the CreateTags
# grant must name it (a grant for CreateImage alone fails a refresh onto a tagged template).
CREATE_ACTION = {"ec2:CreateImage": "CreateImage", **{action: "RunInstances" for action in ONTO_A_TEMPLATE}}


def statements(policy: Any) -> Iterator[dict[str, Any]]:
    """Every statement, with both branches of a Fn::If (the proof covers every condition)."""
    if isinstance(policy, list):
        for item in policy:
            yield from statements(item)
    elif isinstance(policy, dict):
        if "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                yield from statements(branch)
        elif "Statement" in policy:
            yield from statements(policy["Statement"])
        elif "Action" in policy and policy.get("Effect") == "Allow":
            yield policy


def create_actions(policies: Any) -> set[str]:
    """The ec2:CreateAction values under which the policies allow ec2:CreateTags."""
    found: set[str] = set()
    for statement in statements(policies):
        listed = statement["Action"]
        if "ec2:CreateTags" not in ([listed] if isinstance(listed, str) else listed):
            continue
        value = statement.get("Condition", {}).get("StringEquals", {}).get("ec2:CreateAction", [])
        found.update([value] if isinstance(value, str) else value)
    return found


def granted_by_function(template: dict[str, Any]) -> dict[str, tuple[set[str], dict[str, str]]]:
    """Binary name → (actions its policies allow, justified grants it never calls)."""
    granted: dict[str, tuple[set[str], dict[str, str]]] = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        if not binary:
            raise SystemExit(f"{name}: no Metadata.BuildProperties.Binary")
        actions: set[str] = set()
        for statement in statements(resource["Properties"].get("Policies", [])):
            listed = statement["Action"]
            for action in [listed] if isinstance(listed, str) else listed:
                if "*" in action:
                    raise SystemExit(f"{name}: wildcard action {action}")
                actions.add(action)
        justified = resource.get("Metadata", {}).get("GrantedNotCalled", {})
        granted[binary] = (actions, dict(justified))
        TAGGING[binary] = create_actions(resource["Properties"].get("Policies", []))
    return granted


# Binary name → the ec2:CreateAction values its ec2:CreateTags grants allow.
TAGGING: dict[str, set[str]] = {}


def used_by_function(log_path: str, functions: set[str]) -> dict[str, set[str]]:
    used: dict[str, set[str]] = defaultdict(set)
    with open(log_path, encoding="utf-8") as log:
        for line in log:
            entry = json.loads(line)
            function = entry["app"].split(".", 1)[0]
            if function in functions and "." in entry["app"]:
                used[function].add(iam_action(entry["service"], entry["action"]))
    return used


def main(template_path: str, log_path: str) -> int:
    template, problems = decode(template_path)
    if template is None:
        raise SystemExit(f"{template_path}: {problems}")
    granted = granted_by_function(template)
    used = used_by_function(log_path, set(granted))
    failures: list[str] = []
    print(f"{'function':<12} {'called':>6} {'granted':>7}  notes")
    for function, (allowed, justified) in sorted(granted.items()):
        called = used.get(function, set())
        if not called:
            failures.append(f"{function}: no calls in the log (did its integration tests run?)")
        for action in sorted(called - allowed):
            failures.append(f"{function}: calls {action}, which its policy does not grant")
        for action in sorted(a for a in called if a in CREATE_ACTION):
            if CREATE_ACTION[action] not in TAGGING.get(function, set()):
                failures.append(f"{function}: calls {action}, whose tags on create need ec2:CreateTags "
                                f"with ec2:CreateAction={CREATE_ACTION[action]}")
        notes = []
        for action in sorted(allowed - called):
            implied = sorted(IMPLIED_BY.get(action, set()) & called)
            if implied:
                notes.append(f"{action} (implied by {', '.join(implied)})")
            elif action in justified:
                notes.append(f"{action} (justified: {justified[action]})")
            else:
                failures.append(f"{function}: grants {action} but never calls it (remove it or justify it)")
        for action in sorted(set(justified) - allowed):
            failures.append(f"{function}: justifies {action}, which it is not granted")
        print(f"{function:<12} {len(called):>6} {len(allowed):>7}  {'; '.join(notes)}")
    for failure in failures:
        print(f"IAM proof: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))

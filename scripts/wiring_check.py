"""The template's EventBridge wiring, evaluated as EventBridge evaluates it: each function's rule
patterns (its `EventBridgeRule` events in template.yaml, intrinsics resolved for a cluster named
`prod`, as the shipped fixtures name it, in both cluster modes) against every shipped EventBridge
event, with moto's implementation of EventBridge's pattern matching (exact values, prefix,
suffix, anything-but, numeric, exists, wildcard, $or; the emulator's venv).

What must hold: every EventBridge fixture in `events/<loop>/` reaches that loop's function
through one of its rules, and no event (fixtures and AWS's samples) reaches two functions. With
`--self-test`, each rule's detail-type is changed in turn and the check must then fail: a
miswired rule cannot pass.

    python scripts/wiring_check.py template.yaml [--self-test]
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from moto.events.models import EventPattern

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "emulator"))
from halfhour_emu.stack import TemplateLoader, example  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Each loop's fixtures directory and the function resource that serves it.
LOOPS = {"gold-image": "GoldImageFunction", "failover": "FailoverFunction", "db-events": "DbEventsFunction",
         "lifecycle": "LifecycleFunction", "scaler": "ScalerFunction", "reconciler": "ReconcilerFunction"}


def rules(template: dict[str, Any], event: dict[str, Any], create_cluster: bool) -> dict[str, list[dict]]:
    """Each function's EventBridge rule patterns, resolved in `event`'s account and region."""
    # The database fixtures are AWS's examples, each of its own instance: the cluster's database
    # is the one the event names (bare or as `rds:<name>`, as AWS gives SourceIdentifier).
    named_db = str(event.get("detail", {}).get("SourceIdentifier", "")).removeprefix("rds:")
    db = named_db if event.get("source") == "aws.rds" and named_db else "prod-db"
    stack = example(template, create_cluster=create_cluster, db=db)
    stack.pseudo.update({"AWS::Region": event.get("region", "us-east-1"),
                         "AWS::AccountId": event.get("account", "123456789012")})
    found: dict[str, list[dict]] = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for spec in (resource.get("Properties", {}).get("Events") or {}).values():
            if spec.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                found.setdefault(name, []).append(stack.resolve(spec["Properties"]["Pattern"]))
    return found


def reached(template: dict[str, Any], event: dict[str, Any], create_cluster: bool) -> set[str]:
    """The functions whose rules match `event`."""
    return {function for function, patterns in rules(template, event, create_cluster).items()
            if any(EventPattern(None, pattern).matches_event(event) for pattern in patterns)}


def eventbridge_events() -> list[tuple[Path, str | None, dict[str, Any]]]:
    """Every shipped EventBridge event (`source` and `detail-type`): its file, its loop (None for
    AWS's samples), the event."""
    found = []
    for path in sorted((ROOT / "events").glob("*/*.json")):
        event = json.loads(path.read_text())
        if isinstance(event, dict) and "source" in event and "detail-type" in event:
            found.append((path, path.parent.name if path.parent.name in LOOPS else None, event))
    return found


def failures(template: dict[str, Any]) -> list[str]:
    wrong = []
    for create_cluster in (False, True):
        mode = "CreateCluster=true" if create_cluster else "an existing cluster"
        for path, loop, event in eventbridge_events():
            functions = reached(template, event, create_cluster)
            where = f"{path.relative_to(ROOT)} ({mode})"
            if len(functions) > 1:
                wrong.append(f"{where} reaches {sorted(functions)}: one event, two functions")
            own = LOOPS.get(loop or "")
            # A loop's own fixture names its cluster: its function must get it, if it has rules at all.
            if own and own in rules(template, event, create_cluster) and own not in functions:
                wrong.append(f"{where} reaches no rule of {own} (it reaches {sorted(functions) or 'nothing'})")
    return wrong


def self_test(template: dict[str, Any]) -> list[str]:
    """Each rule with its detail-type changed must make the check fail."""
    missed = []
    for name, resource in template["Resources"].items():
        for event_name, spec in (resource.get("Properties", {}).get("Events") or {}).items():
            if spec.get("Type") != "EventBridgeRule":
                continue
            mutated = copy.deepcopy(template)
            pattern = mutated["Resources"][name]["Properties"]["Events"][event_name]["Properties"]["Pattern"]
            pattern["detail-type"] = [f"{t} (miswired)" for t in pattern["detail-type"]]
            if not failures(mutated):
                missed.append(f"{name}.{event_name}: a changed detail-type went unnoticed")
    return missed


def main(argv: list[str]) -> int:
    template = yaml.load((ROOT / argv[0]).read_text(), Loader=TemplateLoader)
    wrong = failures(template)
    checked = eventbridge_events()
    print(f"{len(checked)} EventBridge events against {sum(len(p) for p in rules(template, {}, False).values())} "
          f"rules, both cluster modes: {len(wrong)} wrong")
    for line in wrong:
        print(f"  {line}")
    if "--self-test" in argv:
        missed = self_test(template)
        print(f"self-test: each rule's detail-type changed in turn: {len(missed)} went unnoticed")
        for line in missed:
            print(f"  {line}")
        wrong += missed
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

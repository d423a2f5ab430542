"""halfhour's AWS emulator: moto server plus the AWS behaviour halfhour depends on that moto 5.2 lacks.

What this module adds, each faithful to AWS's documented behaviour:

* Auto Scaling lifecycle hooks: instances launched into a group with a launching hook wait in
  ``Pending:Wait`` until ``CompleteLifecycleAction`` (CONTINUE -> InService, ABANDON ->
  terminated and replaced); a terminating hook holds instances in ``Terminating:Wait``;
  ``RecordLifecycleActionHeartbeat`` restarts the heartbeat timeout; an expired timeout applies
  the hook's DefaultResult; completing an instance that is not waiting answers AWS's
  ``ValidationError: No active Lifecycle Action found with instance ID ...``.
* ``SetDesiredCapacity`` outside MinSize..MaxSize answers AWS's ValidationError.
* Instances count toward capacity while Pending, Pending:Wait or InService (not Standby, not
  Terminating); only InService instances are registered with the group's target groups.
* Instance refresh: ``StartInstanceRefresh``, ``DescribeInstanceRefreshes``,
  ``CancelInstanceRefresh``; each describe advances an active refresh by one batch, replacing
  instances whose image differs from the launch template's desired version.
* ``CreateImage`` honours ``NoReboot`` (without it, or with false, the instance is rebooted),
  refuses a duplicate name, tags the image's snapshots at creation, and leaves the image
  ``pending`` for 30 emulator seconds before it is ``available``.
* Route53: a CALCULATED health check is evaluated from its children and HealthThreshold (as
  AWS documents: 0 always healthy, above the number of children always unhealthy), and
  ``GET /_halfhour/resolve`` answers a query for a record with failover routing semantics.
* Lambda: an asynchronous ``Invoke`` (``X-Amz-Invocation-Type: Event``) of a declared function
  answers 202 and is logged, as Lambda queues it (moto would run it in Docker); an unknown
  function answers ``ResourceNotFoundException``.
* Test endpoints under ``/_halfhour/``: the request log, reboot counts, Route53 health-check
  status, per-instance health-probe outcomes (answered through SSM Run Command), and a clock
  that tests can advance so lifecycle timeouts happen without waiting.

Run it standalone: ``python halfhour_emulator.py --port 5000`` (or ``make emulator``).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.awslambda.responses import LambdaResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.route53 import models as r53_models
from moto.route53.responses import Route53
from moto.ssm.responses import SimpleSystemManagerResponse
from werkzeug.serving import make_server

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
# States that count toward desired capacity (AWS excludes Standby and the terminating states).
COUNTED_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
READ_PREFIXES = ("Describe", "Get", "List", "Head", "Query", "Scan", "BatchGet")


class Clock:
    """Wall clock plus an offset that tests advance instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


CLOCK = Clock()
REBOOTS: dict[str, int] = {}
PROBES: dict[str, str] = {}  # instance id (or "*" for every other) -> "healthy" | "failing"
HEALTH_STATUS: dict[str, bool] = {}  # Route53 health check id -> healthy?
REFRESHES: dict[str, list[dict[str, Any]]] = {}  # group name -> refreshes, newest first
PENDING_IMAGES: dict[str, float] = {}  # image id -> when it becomes available
# How long a new image stays `pending` (AWS takes minutes); tests advance the clock or set it.
IMAGE_SETTLE_SECONDS = 30.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --------------------------------------------------------------------------- lifecycle hooks


def _hooks(group: Any, transition: str) -> list[Any]:
    return [
        h
        for h in group.autoscaling_backend.describe_lifecycle_hooks(group.name)
        if h.lifecycle_transition == transition
    ]


def _start_action(state: Any, hook: Any, wait_state: str) -> None:
    now = CLOCK.now()
    state.lifecycle_state = wait_state
    state.halfhour_action = {
        "token": str(uuid.uuid4()),
        "hook": hook.name,
        "default_result": hook.default_result,
        "heartbeat_timeout": hook.heartbeat_timeout,
        "deadline": now + hook.heartbeat_timeout,
        # AWS caps the whole wait at the smaller of 48 hours and 100 heartbeat timeouts.
        "global_deadline": now + min(172800, 100 * hook.heartbeat_timeout),
    }


def _target_groups(group: Any) -> list[Any]:
    if not group.target_group_arns:
        return []
    return group.autoscaling_backend.elbv2_backend.describe_target_groups(
        target_group_arns=group.target_group_arns, load_balancer_arn=None, names=None
    )


def _sync_target_groups(group: Any, leaving: tuple[str, ...] = ()) -> None:
    """Register InService instances with the group's target groups; deregister all others."""
    backend = group.autoscaling_backend.elbv2_backend
    in_service = {s.instance.id for s in group.instance_states if s.lifecycle_state == "InService"}
    members = {s.instance.id for s in group.instance_states} | set(leaving)
    for tg in _target_groups(group):
        registered = set(tg.targets.keys())
        missing = in_service - registered
        if missing:
            backend.register_targets(tg.arn, [{"Id": i, "Port": tg.port} for i in sorted(missing)])
        extra = members & (registered - in_service)
        if extra:
            backend.deregister_targets(tg.arn, [{"Id": i} for i in sorted(extra)])


def _terminate_now(group: Any, state: Any) -> None:
    group.instance_states = [s for s in group.instance_states if s is not state]
    _sync_target_groups(group, leaving=(state.instance.id,))
    group.autoscaling_backend.ec2_backend.terminate_instances([state.instance.id])


def _begin_termination(group: Any, state: Any) -> None:
    hooks = _hooks(group, TERMINATING)
    if hooks:
        _start_action(state, hooks[0], "Terminating:Wait")
        _sync_target_groups(group)
    else:
        _terminate_now(group, state)


def _settle(group: Any) -> None:
    """Launch or retire instances until the counted instances equal the desired capacity."""
    counted = [s for s in group.instance_states if s.lifecycle_state in COUNTED_STATES]
    delta = (group.desired_capacity or 0) - len(counted)
    if delta > 0:
        group.replace_autoscaling_group_instances(delta, group.get_propagated_tags())
    elif delta < 0:
        # Instances not yet serving go first, then the oldest; protected instances never.
        candidates = [s for s in counted if not s.protected_from_scale_in]
        candidates.sort(key=lambda s: s.lifecycle_state == "InService")
        for state in candidates[: -delta]:
            _begin_termination(group, state)
    _sync_target_groups(group)


def _set_desired_capacity(self: Any, new_capacity: int | None) -> None:
    self.desired_capacity = self.min_size if new_capacity is None else new_capacity
    _settle(self)


_original_replace = asg_models.FakeAutoScalingGroup.replace_autoscaling_group_instances


def _replace_instances(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
    before = set(id(s) for s in self.instance_states)
    _original_replace(self, count_needed, propagated_tags)
    hooks = _hooks(self, LAUNCHING) if self.name in self.autoscaling_backend.autoscaling_groups else []
    for state in self.instance_states:
        if id(state) in before:
            continue
        state.launched_at = CLOCK.now()
        if hooks:
            _start_action(state, hooks[0], "Pending:Wait")
        else:
            state.lifecycle_state = "InService"


def _active_instances(self: Any) -> list[Any]:
    return [s for s in self.instance_states if s.lifecycle_state in COUNTED_STATES]


def _complete(group: Any, state: Any, result: str) -> None:
    state.halfhour_action = None
    if state.lifecycle_state == "Pending:Wait":
        if result == "CONTINUE":
            state.lifecycle_state = "InService"
            _sync_target_groups(group)
        else:
            # ABANDON on launch: AWS terminates the instance and launches a replacement.
            _terminate_now(group, state)
            _settle(group)
    elif state.lifecycle_state == "Terminating:Wait":
        _terminate_now(group, state)
        _settle(group)


def _expire_actions(backend: Any) -> None:
    """Apply DefaultResult to every lifecycle action whose heartbeat timeout has passed."""
    now = CLOCK.now()
    for group in list(backend.autoscaling_groups.values()):
        for state in list(group.instance_states):
            action = getattr(state, "halfhour_action", None)
            if action and now >= min(action["deadline"], action["global_deadline"]):
                _complete(group, state, action["default_result"])


def _find_waiting(backend: Any, group_name: str, instance_id: str | None, token: str | None) -> tuple[Any, Any]:
    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {group_name} not found")
    for state in group.instance_states:
        action = getattr(state, "halfhour_action", None)
        if not action:
            continue
        if (instance_id and state.instance.id == instance_id) or (token and action["token"] == token):
            return group, state
    if instance_id:
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")
    raise ValidationError(f"No active Lifecycle Action found with token {token}")


def complete_lifecycle_action(self: AutoScalingResponse) -> ActionResult:
    backend = self.autoscaling_backend
    _expire_actions(backend)
    result = self._get_param("LifecycleActionResult")
    if result not in ("CONTINUE", "ABANDON"):
        raise ValidationError("LifecycleActionResult must be CONTINUE or ABANDON")
    group, state = _find_waiting(
        backend,
        self._get_param("AutoScalingGroupName"),
        self._get_param("InstanceId"),
        self._get_param("LifecycleActionToken"),
    )
    if state.halfhour_action["hook"] != self._get_param("LifecycleHookName"):
        raise ValidationError(f"No active Lifecycle Action found with instance ID {state.instance.id}")
    _complete(group, state, result)
    return EmptyResult()


def record_lifecycle_action_heartbeat(self: AutoScalingResponse) -> ActionResult:
    backend = self.autoscaling_backend
    _expire_actions(backend)
    _, state = _find_waiting(
        backend,
        self._get_param("AutoScalingGroupName"),
        self._get_param("InstanceId"),
        self._get_param("LifecycleActionToken"),
    )
    action = state.halfhour_action
    action["deadline"] = CLOCK.now() + action["heartbeat_timeout"]
    return EmptyResult()


# --------------------------------------------------------------------------- instance refresh


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


ACTIVE_REFRESH = ("Pending", "InProgress", "Cancelling")


def _desired_image(group: Any, refresh: dict[str, Any]) -> str:
    lt_spec = refresh.get("launch_template")
    template = group.ec2_launch_template
    version = group.launch_template_version
    if lt_spec:
        version = lt_spec.get("Version") or version
    return template.get_version(version).image_id


def _advance_refresh(group: Any, refresh: dict[str, Any]) -> None:
    """One step of a refresh: Pending -> InProgress, then replace one batch per call."""
    if refresh["Status"] == "Pending":
        refresh["Status"] = "InProgress"
        refresh["StartTime"] = _iso(CLOCK.now())
        return
    if refresh["Status"] == "Cancelling":
        refresh["Status"] = "Cancelled"
        refresh["EndTime"] = _iso(CLOCK.now())
        return
    if refresh["Status"] != "InProgress":
        return
    image = _desired_image(group, refresh)
    if refresh.get("launch_template"):
        group.launch_template_version = refresh["launch_template"].get("Version", group.launch_template_version)
    stale = [s for s in group.instance_states if s.lifecycle_state == "InService" and s.instance.image_id != image]
    waiting = [s for s in group.instance_states if s.lifecycle_state in ("Pending", "Pending:Wait")]
    total = max(1, len([s for s in group.instance_states if s.lifecycle_state in COUNTED_STATES]))
    if waiting:
        return  # replacements are still launching; a refresh waits for them to be InService
    if not stale:
        refresh["Status"] = "Successful"
        refresh["PercentageComplete"] = 100
        refresh["InstancesToUpdate"] = 0
        refresh["EndTime"] = _iso(CLOCK.now())
        return
    min_healthy = refresh["Preferences"].get("MinHealthyPercentage", 90)
    batch = max(1, math.floor(total * (100 - min_healthy) / 100))
    for state in stale[:batch]:
        _terminate_now(group, state)
    _settle(group)
    refresh["InstancesToUpdate"] = len(stale) - min(batch, len(stale))
    refresh["PercentageComplete"] = int(100 * (total - refresh["InstancesToUpdate"]) / total)


def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    refreshes = REFRESHES.setdefault(name, [])
    if any(r["Status"] in ACTIVE_REFRESH for r in refreshes):
        raise InstanceRefreshInProgress(
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
        )
    params = self._get_params()
    preferences = params.get("Preferences") or {}
    desired = params.get("DesiredConfiguration") or {}
    refresh = {
        "InstanceRefreshId": str(uuid.uuid4()),
        "AutoScalingGroupName": name,
        "Status": "Pending",
        "StatusReason": "",
        "PercentageComplete": 0,
        "InstancesToUpdate": len(group.instance_states),
        "Preferences": {k: v for k, v in preferences.items() if v is not None},
        "launch_template": desired.get("LaunchTemplate"),
    }
    refreshes.insert(0, refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def _public_refresh(refresh: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in refresh.items() if k != "launch_template"}
    prefs = dict(shown["Preferences"])
    for key in ("MinHealthyPercentage", "InstanceWarmup", "MaxHealthyPercentage"):
        if key in prefs:
            prefs[key] = int(prefs[key])
    for key in ("AutoRollback", "SkipMatching"):
        if key in prefs:
            prefs[key] = str(prefs[key]).lower() == "true"
    shown["Preferences"] = prefs
    return shown


def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    _expire_actions(self.autoscaling_backend)
    wanted = set(self._get_param("InstanceRefreshIds", []) or [])
    refreshes = REFRESHES.get(name, [])
    for refresh in refreshes:
        if refresh["Status"] in ACTIVE_REFRESH:
            _advance_refresh(group, refresh)
    shown = [_public_refresh(r) for r in refreshes if not wanted or r["InstanceRefreshId"] in wanted]
    return ActionResult({"InstanceRefreshes": shown})


def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    for refresh in REFRESHES.get(name, []):
        if refresh["Status"] in ("Pending", "InProgress"):
            refresh["Status"] = "Cancelling"
            return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})
    raise ActiveInstanceRefreshNotFound("No in progress or pending Instance Refresh found for Auto Scaling group " + name)


# --------------------------------------------------------------------------- capacity bounds

_original_set_desired = AutoScalingResponse.set_desired_capacity


def set_desired_capacity(self: AutoScalingResponse) -> ActionResult:
    name = self._get_param("AutoScalingGroupName")
    desired = self._get_int_param("DesiredCapacity")
    group = self.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    if desired > group.max_size:
        raise ValidationError(
            f"New SetDesiredCapacity value {desired} is above max value {group.max_size} for the AutoScalingGroup."
        )
    if desired < group.min_size:
        raise ValidationError(
            f"New SetDesiredCapacity value {desired} is below min value {group.min_size} for the AutoScalingGroup."
        )
    _expire_actions(self.autoscaling_backend)
    return _original_set_desired(self)


def _with_expiry(method: Any) -> Any:
    """Lifecycle timeouts are applied lazily, before any request that could observe them."""

    def wrapped(self: AutoScalingResponse) -> Any:
        _expire_actions(self.autoscaling_backend)
        return method(self)

    return wrapped


# --------------------------------------------------------------------------- EC2 images and reboots

_original_create_image = AmisResponse.create_image
_original_reboot = InstanceResponse.reboot_instances


def _flag(response: Any, name: str) -> bool:
    return str(response._get_param(name, "false")).lower() == "true"


class InvalidAMINameDuplicate(EC2ClientError):
    def __init__(self, name: str) -> None:
        super().__init__("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI")


def create_image(self: AmisResponse) -> ActionResult:
    """AWS's CreateImage: unique names, tags on the image and its snapshots at creation, a
    reboot unless NoReboot=true, and an image that is `pending` before it is `available`."""
    instance_id = self._get_param("InstanceId")
    name = self._get_param("Name")
    if _flag(self, "DryRun"):
        return _original_create_image(self)
    self.ec2_backend.get_instance(instance_id)  # an unknown instance fails before anything else
    if any(ami.name == name for ami in self.ec2_backend.amis.values()):
        raise InvalidAMINameDuplicate(name)
    specifications = self._get_param("TagSpecifications", [])
    snapshot_tags = [t for spec in specifications if spec.get("ResourceType") == "snapshot" for t in spec.get("Tags", [])]
    # moto refuses snapshot specifications; it gets the image's, the snapshot's are applied below.
    image_only = [spec for spec in specifications if spec.get("ResourceType") != "snapshot"]
    ami = self.ec2_backend.create_image(instance_id, name, self._get_param("Description", ""), tag_specifications=image_only)
    for tag in snapshot_tags:
        ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
    if not _flag(self, "NoReboot"):
        REBOOTS[instance_id] = REBOOTS.get(instance_id, 0) + 1
    ami.state = "pending"
    ami.creation_date = datetime.fromtimestamp(CLOCK.now(), tz=timezone.utc)
    PENDING_IMAGES[ami.id] = CLOCK.now() + IMAGE_SETTLE_SECONDS
    return ActionResult({"ImageId": ami.id})


def _settle_images(backend: Any) -> None:
    """A pending image becomes available once its settle time has passed on the emulator clock."""
    now = CLOCK.now()
    for image_id, ready_at in list(PENDING_IMAGES.items()):
        if now >= ready_at:
            ami = backend.amis.get(image_id)
            if ami is not None and ami.state == "pending":
                ami.state = "available"
            PENDING_IMAGES.pop(image_id, None)


_original_describe_images = AmisResponse.describe_images


def describe_images(self: AmisResponse) -> ActionResult:
    _settle_images(self.ec2_backend)
    return _original_describe_images(self)


def _lifecycle_actions() -> list[dict[str, Any]]:
    actions = []
    for account in asg_models.autoscaling_backends.values():
        for backend in account.values():
            _expire_actions(backend)
            for group in backend.autoscaling_groups.values():
                for state in group.instance_states:
                    action = getattr(state, "halfhour_action", None)
                    if action:
                        actions.append({
                            "AutoScalingGroupName": group.name,
                            "LifecycleHookName": action["hook"],
                            "LifecycleActionToken": action["token"],
                            "EC2InstanceId": state.instance.id,
                            "LifecycleTransition": LAUNCHING if state.lifecycle_state == "Pending:Wait" else TERMINATING,
                        })
    return actions


def _set_image_state(image_id: str, state: str) -> None:
    if state not in ("available", "failed"):
        raise ValueError("state must be available or failed")
    from moto.ec2.models import ec2_backends

    for account in ec2_backends.values():
        for backend in account.values():
            ami = backend.amis.get(image_id)
            if ami is not None:
                ami.state = state
                PENDING_IMAGES.pop(image_id, None)
                return
    raise KeyError(f"no image {image_id}")


def reboot_instances(self: InstanceResponse) -> ActionResult:
    if not _flag(self, "DryRun"):
        for instance_id in self._get_multi_param("InstanceId"):
            REBOOTS[instance_id] = REBOOTS.get(instance_id, 0) + 1
    return _original_reboot(self)


# --------------------------------------------------------------------------- SSM health probes

def get_command_invocation(self: SimpleSystemManagerResponse) -> ActionResult:
    """Answer a probe command with the outcome a test set for the instance (default healthy)."""
    instance_id = self._get_param("InstanceId")
    response = dict(
        self.ssm_backend.get_command_invocation(
            self._get_param("CommandId"), instance_id, self._get_param("PluginName")
        )
    )
    if PROBES.get(instance_id, PROBES.get("*")) == "failing":
        response.update(Status="Failed", StatusDetails="Failed", ResponseCode=22, StandardOutputContent="",
                        StandardErrorContent="curl: (22) The requested URL returned error: 503")
    else:
        response.update(Status="Success", StatusDetails="Success", ResponseCode=0, StandardOutputContent="ok")
    return ActionResult(response)


# --------------------------------------------------------------------------- Route53 health status

class InvalidInput(ServiceException):
    code = "InvalidInput"


def _evaluate_health_check(backend: Any, health_check_id: str, depth: int = 0) -> bool:
    """Route53's verdict on a health check: a test-set status for endpoint checks (a new check
    starts healthy), the children counted against HealthThreshold for CALCULATED ones (0 is
    always healthy, more than the children always unhealthy), Disabled counts as healthy,
    Inverted flips the result."""
    check = backend.health_checks.get(health_check_id)
    if check is None or depth > 8:
        return False
    if check.disabled:
        return True
    if check.type_ == "CALCULATED":
        children = check.children or []
        healthy = sum(_evaluate_health_check(backend, child, depth + 1) for child in children)
        result = healthy >= int(check.health_threshold or 0)
    else:
        result = HEALTH_STATUS.get(health_check_id, True)
    return not result if check.inverted else result


def get_health_check_status(self: Route53) -> ActionResult:
    health_check_id = self._get_param("HealthCheckId")
    check = self.backend.get_health_check(health_check_id)
    if check.type_ == "CALCULATED":
        # AWS: GetHealthCheckStatus cannot report a calculated health check.
        raise InvalidInput("You can't use GetHealthCheckStatus to get the status of a calculated health check.")
    healthy = _evaluate_health_check(self.backend, health_check_id)
    status = "Success: HTTP Status Code: 200. OK" if healthy else "Failure: HTTP Status Code: 503. Service Unavailable"
    observations = [
        {"Region": region, "IPAddress": "127.0.13.37", "StatusReport": {"Status": status, "CheckedTime": _iso(CLOCK.now())}}
        for region in ("us-east-1", "eu-west-1", "ap-southeast-1")
    ]
    return ActionResult({"HealthCheckObservations": observations})


_original_update_health_check = Route53.update_health_check


def update_health_check(self: Route53) -> ActionResult:
    """AWS keeps a check's children and regions when an update does not name them; moto 5.2
    resets them to none, which would empty a calculated gate on every threshold change."""
    check = self.backend.get_health_check(self._get_param("HealthCheckId"))
    children, regions = check.children, check.regions
    result = _original_update_health_check(self)
    if self._get_param("ChildHealthChecks") is None:
        check.children = children
    if self._get_param("Regions") is None:
        check.regions = regions
    return result


def _resolve(zone_id: str, name: str) -> dict[str, Any]:
    """Answer a DNS query for `name` with Route53's failover routing: the PRIMARY record while
    its health check is healthy (or it has none), else the SECONDARY."""
    from moto.route53.models import route53_backends

    wanted = name.rstrip(".") + "."
    for account in route53_backends.values():
        for backend in account.values():
            zone = backend.zones.get(zone_id)
            if zone is None:
                continue
            records = {r.failover: r for r in zone.rrsets if r.name.rstrip(".") + "." == wanted and r.failover}
            primary, secondary = records.get("PRIMARY"), records.get("SECONDARY")
            if primary is None and secondary is None:
                raise KeyError(f"no failover records for {name}")
            primary_healthy = primary is not None and (
                not primary.health_check_id or _evaluate_health_check(backend, primary.health_check_id)
            )
            chosen = primary if primary_healthy or secondary is None else secondary
            target = (chosen.alias_target or {}).get("DNSName") or [r for r in chosen.records]
            return {"answer": chosen.failover, "set_identifier": chosen.set_identifier, "target": target}
    raise KeyError(f"no hosted zone {zone_id}")


# --------------------------------------------------------------------------- Lambda async invoke

# Functions the tests declare: an async Invoke of one of them is accepted (202) and logged, the
# way Lambda queues it; moto would try to run it in Docker.
FUNCTIONS: set[str] = set()

_original_lambda_invoke = LambdaResponse.invoke


def lambda_invoke(self: LambdaResponse) -> Any:
    if self.headers.get("X-Amz-Invocation-Type") != "Event":
        return _original_lambda_invoke(self)
    name = urllib.parse.unquote(self.path.rsplit("/", 2)[-2]).split(":")[-1]
    if name not in FUNCTIONS:
        body = json.dumps({"Type": "User", "Message": f"Function not found: {name}"})
        return 404, {"status": "404", "x-amzn-errortype": "ResourceNotFoundException", "content-type": "application/json"}, body
    return 202, {"status": "202", "content-type": "application/json"}, ""


# --------------------------------------------------------------------------- launch templates

# AWS: a ClientToken makes CreateLaunchTemplateVersion idempotent (the same token answers the
# version it created), and SourceVersion's data is the base the new data overrides. moto 5.2
# ignores both.
LAUNCH_TEMPLATE_TOKENS: dict[tuple[str, str], int] = {}


def create_launch_template_version(self: Any) -> ActionResult:
    import copy

    name, template_id = self._get_param("LaunchTemplateName"), self._get_param("LaunchTemplateId")
    template = (self.ec2_backend.get_launch_template(template_id) if template_id
                else self.ec2_backend.get_launch_template_by_name(name))
    token = self._get_param("ClientToken")
    self.error_on_dryrun()
    if token and (template.id, token) in LAUNCH_TEMPLATE_TOKENS:
        version = template.get_version(LAUNCH_TEMPLATE_TOKENS[(template.id, token)])
    else:
        data = self._get_param("LaunchTemplateData", {})
        source = self._get_param("SourceVersion")
        if source:
            data = {**copy.deepcopy(template.get_version(source).data), **data}
        version = template.create_version(data, self._get_param("VersionDescription"))
        if token:
            LAUNCH_TEMPLATE_TOKENS[(template.id, token)] = version.number
    return ActionResult({"LaunchTemplateVersion": {
        "CreateTime": version.create_time,
        "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
        "DefaultVersion": template.is_default(version),
        "LaunchTemplateData": version.data,
        "LaunchTemplateId": template.id,
        "LaunchTemplateName": template.name,
        "VersionDescription": version.description,
        "VersionNumber": version.number,
    }})


def install() -> None:
    """Patch moto in place; idempotent."""
    if getattr(install, "done", False):
        return
    asg_models.FakeAutoScalingGroup.set_desired_capacity = _set_desired_capacity
    asg_models.FakeAutoScalingGroup.replace_autoscaling_group_instances = _replace_instances
    asg_models.FakeAutoScalingGroup.active_instances = _active_instances
    asg_models.AutoScalingBackend.update_attached_target_groups = lambda self, name: _sync_target_groups(
        self.autoscaling_groups[name]
    )
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.set_desired_capacity = set_desired_capacity
    for name in ("describe_auto_scaling_instances", "describe_auto_scaling_groups"):
        setattr(AutoScalingResponse, name, _with_expiry(getattr(AutoScalingResponse, name)))
    AmisResponse.create_image = create_image
    LaunchTemplates.create_launch_template_version = create_launch_template_version
    AmisResponse.describe_images = describe_images
    InstanceResponse.reboot_instances = reboot_instances
    SimpleSystemManagerResponse.get_command_invocation = get_command_invocation
    Route53.get_health_check_status = get_health_check_status
    Route53.update_health_check = update_health_check
    LambdaResponse.invoke = lambda_invoke
    install.done = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- request log + control

ROUTE53_ACTIONS = [
    ("POST", "/rrset", "ChangeResourceRecordSets"),
    ("GET", "/rrset", "ListResourceRecordSets"),
    ("GET", "/status", "GetHealthCheckStatus"),
    ("POST", "/healthcheck/", "UpdateHealthCheck"),
    ("POST", "/healthcheck", "CreateHealthCheck"),
    ("GET", "/healthcheck/", "GetHealthCheck"),
    ("GET", "/healthcheck", "ListHealthChecks"),
    ("DELETE", "/healthcheck/", "DeleteHealthCheck"),
    ("POST", "/hostedzone", "CreateHostedZone"),
    ("GET", "/hostedzone", "GetHostedZone"),
]
S3_ACTIONS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject", "POST": "PostObject"}


def _service_of(environ: dict[str, Any]) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        return auth.split(",")[0].split()[1].split("/")[3]
    except IndexError:
        return "unknown"


def _app_of(environ: dict[str, Any]) -> str:
    """The SDK's app name (`app/<name>` in the user agent) tells which caller sent a request."""
    for header in ("HTTP_X_AMZ_USER_AGENT", "HTTP_USER_AGENT"):
        for part in environ.get(header, "").split():
            if part.startswith("app/"):
                return part[4:]
    return ""


def _describe_request(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    service = _service_of(environ)
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    params: Any = {}
    if target:
        action = target.split(".")[-1]
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        mutating = not action.startswith(READ_PREFIXES)
    elif environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded") or "Action=" in environ.get(
        "QUERY_STRING", ""
    ):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace") or environ.get("QUERY_STRING", ""))
        params = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        action = str(params.pop("Action", "Unknown"))
        params.pop("Version", None)
        mutating = not action.startswith(READ_PREFIXES)
    else:
        action = f"{method} {path}"
        if service == "route53":
            tail = path.split("/2013-04-01", 1)[-1]
            for verb, fragment, name in ROUTE53_ACTIONS:
                if method == verb and fragment in tail:
                    action = name
                    break
        elif service == "s3":
            action = S3_ACTIONS.get(method, action)
        elif service == "lambda" and path.endswith("/invocations"):
            action = "Invoke"
        params = {"path": path, "body": body[:2048].decode("utf-8", "replace")}
        mutating = method not in ("GET", "HEAD")
    return {"service": service, "action": action, "mutating": mutating, "params": params, "app": _app_of(environ)}



# --------------------------------------------------------------------------- fault injection

# What AWS answers when it throttles or fails, in each protocol's error shape, so the SDK's own
# retry classifiers see what they would see from AWS.
THROTTLE_CODES = {"ec2": "RequestLimitExceeded", "s3": "SlowDown", "dynamodb": "ThrottlingException",
                  "ssm": "ThrottlingException", "lambda": "TooManyRequestsException"}
JSON_NAMESPACES = {"dynamodb": "com.amazonaws.dynamodb.v20120810#", "ssm": ""}


def _error_response(service: str, status: int, code: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    request_id = str(uuid.uuid4())
    if service in JSON_NAMESPACES:
        body = json.dumps({"__type": JSON_NAMESPACES[service] + code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)]
    elif service == "lambda":
        body = json.dumps({"Type": "User", "message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    elif service == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>").encode()
        headers = [("Content-Type", "text/xml")]
    elif service == "s3":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>".encode()
        headers = [("Content-Type", "application/xml")]
    elif service == "monitoring":
        body, headers = b"", [("smithy-protocol", "rpc-v2-cbor")]  # 5xx: the SDK retries on the status alone
    else:  # query protocol and Route53's REST-XML share this shape
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>").encode()
        headers = [("Content-Type", "text/xml")]
    reason = {400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
    return f"{status} {reason[status]}", headers + [("Content-Length", str(len(body)))], body


class DroppedConnection(Exception):
    """Raised after the client's socket was shut: it sees the connection close, as on a network fault."""


def _drop(environ: dict[str, Any]) -> None:
    import socket

    try:
        environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
    except (KeyError, OSError):
        pass
    raise DroppedConnection()


class Faults:
    """Seeded faults for one caller (app name): before a request reaches moto (throttling, 500,
    503, slow, a dropped connection) or after it took effect (the response is lost: drop_after),
    and `crash_after`: the Nth mutating request takes effect, then that caller is cut off — what
    a Lambda killed mid-handler looks like from AWS's side."""

    KINDS = ("throttle", "500", "503", "slow", "drop", "drop_after")

    def __init__(self, spec: dict[str, Any]) -> None:
        import random

        self.rate = float(spec.get("rate", 0.0))
        self.kinds = [k for k in spec.get("kinds", self.KINDS) if k in self.KINDS]
        self.random = random.Random(int(spec.get("seed", 0)))
        self.crash_after = spec.get("crash_after")
        self.mutations = 0
        self.counts: dict[str, int] = {}

    def choose(self, mutating: bool) -> str | None:
        if self.crash_after is not None:
            if self.mutations >= int(self.crash_after):
                return "crashed"
            if mutating:
                self.mutations += 1
                return "drop_after" if self.mutations == int(self.crash_after) else None
            return None
        if self.kinds and self.random.random() < self.rate:
            return self.random.choice(self.kinds)
        return None

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


FAULTS: dict[str, Faults] = {}

# --------------------------------------------------------------------------- Smithy RPC v2 CBOR

# The AWS SDK for Rust speaks Smithy RPC v2 CBOR to CloudWatch; moto 5.2 answers its query
# protocol. Requests are translated with botocore's own model, serializer and parser.
SIGNING_NAME_TO_SERVICE = {"monitoring": "cloudwatch"}


def _rpc_v2_cbor_operation(environ: dict[str, Any]) -> Any:
    if environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor":
        return None
    import botocore.session

    parts = environ.get("PATH_INFO", "").strip("/").split("/")
    if len(parts) != 4 or parts[0] != "service" or parts[2] != "operation":
        return None
    service = _service_of(environ)
    model = botocore.session.get_session().get_service_model(SIGNING_NAME_TO_SERVICE.get(service, service))
    return model.operation_model(parts[3])


def _cbor_request_as_query(environ: dict[str, Any], body: bytes, operation: Any) -> tuple[dict[str, Any], bytes]:
    import cbor2
    from botocore.serialize import create_serializer

    params = cbor2.loads(body) if body else {}
    serialized = create_serializer("query").serialize_to_request(params, operation)
    form = urllib.parse.urlencode(serialized["body"]).encode()
    translated = dict(environ)
    translated.update(
        PATH_INFO="/",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
        CONTENT_LENGTH=str(len(form)),
        QUERY_STRING="",
    )
    translated.pop("HTTP_SMITHY_PROTOCOL", None)
    return translated, form


def _query_response_as_cbor(status: str, body: bytes, operation: Any) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    import cbor2
    from botocore.parsers import create_parser

    code = int(status.split()[0])
    parsed = create_parser("query").parse({"body": body, "headers": {}, "status_code": code}, operation.output_shape)
    if code >= 300:
        error = parsed.get("Error", {})
        document: dict[str, Any] = {"__type": error.get("Code", "InternalFailure"), "message": error.get("Message", "")}
    else:
        document = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    data = cbor2.dumps(document, datetime_as_timestamp=True, timezone=timezone.utc)
    headers = [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(data))),
    ]
    return status, headers, [data]


def _append_to_shared_log(entry: dict[str, Any]) -> None:
    """With HALFHOUR_REQUEST_LOG set, every request's caller and action also go to that JSON-lines
    file, shared by all emulators of a test run: the IAM proof reads it (scripts/iam_proof.py)."""
    path = os.environ.get("HALFHOUR_REQUEST_LOG")
    if path:
        line = json.dumps({k: entry[k] for k in ("app", "service", "action", "status")})
        with open(path, "a", encoding="utf-8") as log:  # one short append per line: atomic
            log.write(line + "\n")


class Emulator:
    """WSGI app: serialises every request (AWS's conditional writes are atomic), logs it, and
    answers the ``/_halfhour/`` control endpoints."""

    def __init__(self) -> None:
        install()
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_halfhour/"):
            with self.lock:
                return self.control(environ, start_response, path[len("/_halfhour/"):])
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        operation = _rpc_v2_cbor_operation(environ)
        if operation is not None:
            environ, body = _cbor_request_as_query(environ, body, operation)
        environ["wsgi.input"] = io.BytesIO(body)
        entry = _describe_request(environ, body)
        with self.lock:
            faults = FAULTS.get(entry["app"])
            fault = faults.choose(entry["mutating"]) if faults else None
            if faults and fault:
                faults.count(fault)
        if fault == "slow":
            time.sleep(0.2 + faults.random.random() * 0.8 if faults else 0.5)
        with self.lock:
            entry["seq"] = len(self.log)
            entry["time"] = CLOCK.now()
            if fault:
                entry["fault"] = fault
            if fault in ("throttle", "500", "503", "drop", "crashed"):
                entry["status"] = 0 if fault in ("drop", "crashed") else (503 if fault == "503" else 500 if fault == "500" else 400)
                self.log.append(entry)
                _append_to_shared_log(entry)
            else:
                captured: list[Any] = []

                def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
                    captured[:] = [status, headers]
                    return lambda data: None

                chunks = list(self.moto(environ, capture))
                status, headers = captured if captured else ("500 Internal Server Error", [])
                if operation is not None:
                    status, headers, chunks = _query_response_as_cbor(status, b"".join(chunks), operation)
                entry["status"] = int(status.split()[0])
                self.log.append(entry)
                _append_to_shared_log(entry)
        if fault in ("drop", "drop_after", "crashed"):
            _drop(environ)
        if fault in ("throttle", "500", "503"):
            service = entry["service"]
            if fault == "throttle":
                code = THROTTLE_CODES.get(service, "Throttling")
                status_code = {"ec2": 503, "s3": 503, "lambda": 429, "monitoring": 503}.get(service, 400)
                status, headers, data = _error_response(service, status_code, code, "Rate exceeded")
            else:
                code = "InternalFailure" if fault == "500" else "ServiceUnavailable"
                status, headers, data = _error_response(service, int(fault), code, "injected fault")
            start_response(status, headers)
            return [data]
        start_response(status, headers)
        return chunks

    def control(self, environ: dict[str, Any], start_response: Any, route: str) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            payload = json.loads(raw or b"{}")
            answer = self.answer(environ.get("REQUEST_METHOD", "GET"), route, payload, environ)
            status = "200 OK"
        except (KeyError, ValueError, TypeError) as err:
            answer, status = {"error": f"bad control request: {err}"}, "400 Bad Request"
        data = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def answer(self, method: str, route: str, payload: dict[str, Any], environ: dict[str, Any]) -> Any:
        if route == "requests" and method == "GET":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            since = int(query.get("since", ["0"])[0])
            app = query.get("app", [None])[0]
            return [e for e in self.log[since:] if app is None or e["app"] == app]
        if route == "faults" and method == "POST":
            # {"app": ..., "rate": 0.1, "seed": 7, "kinds": [...]} or {"app": ..., "crash_after": N};
            # {"app": ...} alone clears that caller's faults.
            app = str(payload["app"])
            spec = {k: v for k, v in payload.items() if k != "app"}
            if spec:
                FAULTS[app] = Faults(spec)
            else:
                FAULTS.pop(app, None)
            return {"ok": True}
        if route == "faults" and method == "GET":
            return {app: f.counts for app, f in FAULTS.items()}
        if route == "reboots" and method == "GET":
            return REBOOTS
        if route == "health-check-status" and method == "POST":
            HEALTH_STATUS[str(payload["health_check_id"])] = bool(payload["healthy"])
            return {"ok": True}
        if route == "instance-probe" and method == "POST":
            outcome = str(payload["outcome"])
            if outcome not in ("healthy", "failing"):
                raise ValueError("outcome must be healthy or failing")
            PROBES[str(payload["instance_id"])] = outcome
            return {"ok": True}
        if route == "clock" and method == "POST":
            CLOCK.offset += float(payload.get("advance_seconds", 0))
            return {"now": CLOCK.now(), "offset": CLOCK.offset}
        if route == "functions" and method == "POST":
            FUNCTIONS.add(str(payload["name"]))
            return {"ok": True}
        if route == "resolve" and method == "GET":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            return _resolve(query["zone"][0], query["name"][0])
        if route == "lifecycle-actions" and method == "GET":
            # What EventBridge would deliver for each waiting instance (token included).
            return _lifecycle_actions()
        if route == "image-state" and method == "POST":
            _set_image_state(str(payload["image_id"]), str(payload["state"]))
            return {"ok": True}
        if route == "clock" and method == "GET":
            return {"now": CLOCK.now(), "offset": CLOCK.offset}
        if route == "health" and method == "GET":
            return {"ok": True}
        raise KeyError(f"{method} /_halfhour/{route}")


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")),
                        help="0 picks a free port; the chosen one is printed")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started it exits (test harnesses)")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, Emulator(), threaded=True)
    if args.exit_with_parent:
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    print(f"halfhour emulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()

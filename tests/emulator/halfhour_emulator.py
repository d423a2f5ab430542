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
  ``CancelInstanceRefresh``, ``RollbackInstanceRefresh``; each describe advances an active refresh
  by one batch, replacing instances whose image differs from the launch template's desired
  version; checkpoints pause it for their delay on the emulator clock, and a monitored alarm in
  ALARM rolls it back (AutoRollback) or fails it.
* ``CreateImage`` honours ``NoReboot`` (without it, or with false, the instance is rebooted),
  refuses a duplicate name, tags the image's snapshots at creation, and leaves the image
  ``pending`` for 30 emulator seconds before it is ``available``.
* Route53: a CALCULATED health check is evaluated from its children and HealthThreshold (as
  AWS documents: 0 always healthy, above the number of children always unhealthy), and
  ``GET /_halfhour/resolve`` answers a query for a record with failover routing semantics.
* Lambda: an asynchronous ``Invoke`` (``X-Amz-Invocation-Type: Event``) of a declared function
  answers 202 and is logged, as Lambda queues it (moto would run it in Docker); an unknown
  function answers ``ResourceNotFoundException``.
* Route53 endpoint checks follow what the endpoint answers (``POST /_halfhour/endpoint``):
  status 200..399, and SearchString in the first 5,120 bytes for the string-matching types.
* Test endpoints under ``/_halfhour/``: the request log, reboot counts, Route53 health-check
  status (an override), health-probe outcomes per instance, image or group (answered through SSM Run Command), and a clock
  that tests can advance so lifecycle timeouts happen without waiting.

Run it standalone: ``python halfhour_emulator.py --port 5000`` (or ``make emulator``).
"""

from __future__ import annotations

import argparse
import io
import copy
import json
import math
import re
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
from moto.ec2.exceptions import EC2ClientError, InvalidSnapshotInUse
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.route53 import exceptions as r53_exceptions
from moto.route53 import models as r53_models
from moto.s3.exceptions import MissingKey, S3AccessDeniedError
from moto.s3.responses import S3Response
from moto.route53.responses import Route53
from moto.sns import exceptions as sns_exceptions
from moto.sns import models as sns_models
from moto.ssm import models as ssm_models
from moto.ssm.exceptions import SSMException
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
# Each reboot: the instance and its Auto Scaling lifecycle state at that moment (a reboot while
# EnteringStandby is a reboot while the load balancer still drains the instance).
REBOOT_LOG: list[dict[str, Any]] = []
CFN_RESPONSES: list[dict[str, Any]] = []  # what functions PUT to a custom resource's ResponseURL
# instance id, "group:<name>" for a group's instances, or "*" for every other
# -> "healthy" | "failing" | "running" (the command has not finished)
PROBES: dict[str, str] = {}
# How long after launch an instance with an instance profile becomes a managed node (its SSM
# Agent registers with Systems Manager). AWS documents no figure; `--ssm-registration-seconds`.
SSM_REGISTRATION_SECONDS = 10.0
LAUNCHED_AT: dict[str, float] = {}  # instance id -> when its group launched it
HEALTH_STATUS: dict[str, bool] = {}  # Route53 health check id -> healthy? (a test's override)
# What a web endpoint answers, as Route53's checkers and the site's visitors see it:
# (host, port, path) -> {"status": int, "body": str, "headers": {...}}. Unmodelled: healthy.
ENDPOINTS: dict[tuple[str, int, str], dict[str, Any]] = {}
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
    """Launch or retire instances until the counted instances equal the desired capacity (plus
    the instances a launch-before-terminate refresh may add above it)."""
    counted = [s for s in group.instance_states if s.lifecycle_state in COUNTED_STATES]
    refresh = _active_refresh(group.name)
    surge = refresh["_surge"] if refresh else 0
    delta = (group.desired_capacity or 0) + surge - len(counted)
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


def _launch_configuration(group: Any) -> tuple[Any, str]:
    """The launch template and version a new instance of the group gets. AWS: "If a scale-out
    event occurs during an instance refresh, Amazon EC2 Auto Scaling launches new instances with
    the desired configuration instead of the group's current settings"
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html); a
    rollback launches with the group's own settings, which the refresh never changed."""
    refresh = _active_refresh(group.name)
    if refresh and refresh["Status"] == "InProgress" and refresh["_desired"]:
        desired = refresh["_desired"]
        return group.autoscaling_backend.ec2_backend.get_launch_template(desired["LaunchTemplateId"]), desired["Version"]
    return group.ec2_launch_template, group.launch_template_version


def _apply_template_data(group: Any, state: Any, data: dict[str, Any]) -> None:
    """What RunInstances takes from a launch template that moto's group launches ignore:
    detailed monitoring (`Monitoring.Enabled`,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LaunchTemplatesMonitoringRequest.html)
    and the instance profile."""
    instance = state.instance
    if (data.get("Monitoring") or {}).get("Enabled") in (True, "true", "True"):
        instance.monitoring_state = "enabled"
    profile = data.get("IamInstanceProfile") or {}
    if profile.get("Arn") or profile.get("Name"):
        account = group.autoscaling_backend.account_id
        arn = profile.get("Arn") or f"arn:aws:iam::{account}:instance-profile/{profile['Name']}"
        instance.iam_instance_profile = {"Arn": arn, "Id": "AIPA" + uuid.uuid4().hex[:17].upper()}


def _replace_instances(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
    before = set(id(s) for s in self.instance_states)
    template, version = _launch_configuration(self)
    saved = (self.ec2_launch_template, self.launch_template_version)
    if template is not None:
        self.ec2_launch_template, self.launch_template_version = template, version
    try:
        _original_replace(self, count_needed, propagated_tags)
    finally:
        self.ec2_launch_template, self.launch_template_version = saved
    hooks = _hooks(self, LAUNCHING) if self.name in self.autoscaling_backend.autoscaling_groups else []
    refresh = _active_refresh(self.name)
    for state in self.instance_states:
        if id(state) in before:
            continue
        state.launched_at = CLOCK.now()
        LAUNCHED_AT[state.instance.id] = state.launched_at
        if template is not None:
            # A group launches exactly the version it names, `$Default`/`$Latest` resolved at
            # launch ("If the value is $Latest, Amazon EC2 Auto Scaling selects the latest version
            # of the launch template when launching instances"; $Default likewise; a number as is):
            # https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LaunchTemplateSpecification.html
            launched = template.get_version(version)
            state.halfhour_launch = (template.id, template.name, launched.number)
            _apply_template_data(self, state, launched.data)
        if refresh and refresh["Status"] == "InProgress":
            refresh["_launched"].add(state.instance.id)
        if hooks:
            _start_action(state, hooks[0], "Pending:Wait")
        else:
            state.lifecycle_state = "InService"


def _instance_launch_template(self: Any) -> dict[str, Any] | None:
    """DescribeAutoScalingInstances: the version the instance was launched from ("The launch
    template for the instance", https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AutoScalingInstanceDetails.html;
    moto reports the template's default, whatever the instance runs)."""
    launched = getattr(self, "halfhour_launch", None)
    if launched is None:
        return _original_instance_launch_template(self)
    return {"LaunchTemplateId": launched[0], "LaunchTemplateName": launched[1], "Version": str(launched[2])}


_original_instance_launch_template = asg_models.InstanceState.launch_template.fget


def _active_instances(self: Any) -> list[Any]:
    return [s for s in self.instance_states if s.lifecycle_state in COUNTED_STATES]


def _warm(group: Any) -> list[Any]:
    """The group's warm-pool instances (not members of the group: DescribeAutoScalingGroups
    does not list them, DescribeWarmPool does)."""
    if not hasattr(group, "halfhour_warm"):
        group.halfhour_warm = []
    return group.halfhour_warm


def _complete(group: Any, state: Any, result: str) -> None:
    state.halfhour_action = None
    if state.lifecycle_state == "Warmed:Pending:Wait":
        # Into the pool: CONTINUE leaves it in the pool's state, ABANDON terminates it.
        if result == "CONTINUE":
            state.lifecycle_state = f"Warmed:{group.warm_pool.pool_state if group.warm_pool else 'Stopped'}"
        else:
            _warm(group).remove(state)
            group.autoscaling_backend.ec2_backend.terminate_instances([state.instance.id])
    elif state.lifecycle_state == "Pending:Wait":
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
    """Apply DefaultResult to every lifecycle action whose heartbeat timeout has passed (and
    finish standby transitions whose draining is over)."""
    _settle_standby(backend)
    now = CLOCK.now()
    for group in list(backend.autoscaling_groups.values()):
        for state in list(group.instance_states) + list(_warm(group)):
            action = getattr(state, "halfhour_action", None)
            if action and now >= min(action["deadline"], action["global_deadline"]):
                _complete(group, state, action["default_result"])


def _find_waiting(backend: Any, group_name: str, instance_id: str | None, token: str | None) -> tuple[Any, Any]:
    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {group_name} not found")
    for state in group.instance_states + _warm(group):
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
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html
# https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


class IrreversibleInstanceRefresh(AutoscalingClientError):
    code = "IrreversibleInstanceRefresh"


ACTIVE_REFRESH = ("Pending", "InProgress", "Cancelling", "RollbackInProgress")
# A refresh that RollbackInstanceRefresh may still undo: "You can roll back an instance refresh
# that is still in progress. You can't roll it back after it's finished."
ROLLBACK_FROM = ("Pending", "InProgress")
WAITING_STATES = ("Pending", "Pending:Wait", "Pending:Proceed")


def _active_refresh(group_name: str) -> dict[str, Any] | None:
    return next((r for r in REFRESHES.get(group_name, []) if r["Status"] in ACTIVE_REFRESH), None)


def _floating(version: str | None) -> bool:
    """`$Latest`/`$Default` name no fixed version: AWS cannot roll back to them."""
    return str(version or "$Default").lower() in ("$latest", "$default")


def _percentages(preferences: dict[str, Any]) -> tuple[int, int]:
    """RefreshPreferences: MinHealthyPercentage 0..100 (default 90), MaxHealthyPercentage
    100..200 (default 100); "If you specify MaxHealthyPercentage, you must also specify
    MinHealthyPercentage, and the difference between them cannot be greater than 100"
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html)."""
    low, high = preferences.get("MinHealthyPercentage"), preferences.get("MaxHealthyPercentage")
    if high is not None and low is None:
        raise ValidationError("The request isn't valid. MaxHealthyPercentage requires MinHealthyPercentage.")
    low = 90 if low is None else int(low)
    high = 100 if high is None else int(high)
    if not 0 <= low <= 100:
        raise ValidationError("The request isn't valid. MinHealthyPercentage must be between 0 and 100.")
    if not 100 <= high <= 200:
        raise ValidationError("The request isn't valid. MaxHealthyPercentage must be between 100 and 200.")
    if high - low > 100:
        raise ValidationError(
            "The request isn't valid. The difference between MaxHealthyPercentage and MinHealthyPercentage "
            "cannot be greater than 100."
        )
    return low, high


def _checkpoints(preferences: dict[str, Any]) -> tuple[list[int], int]:
    """CheckpointPercentages and CheckpointDelay: "Threshold values for each checkpoint in ascending
    order. Each number must be unique"; the delay is 0..172800 seconds, "if you specify a value for
    it, you must also specify a value for CheckpointPercentages", and it "defaults to 3600 (1 hour)"
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html). The
    console asks 1-100 for each percentage; the API states no range, so the console's is kept."""
    raw, delay = preferences.get("CheckpointPercentages"), preferences.get("CheckpointDelay")
    if delay is not None and not raw:
        raise ValidationError("The request isn't valid. CheckpointDelay requires CheckpointPercentages.")
    points = [int(p) for p in raw or []]
    if any(not 1 <= p <= 100 for p in points) or points != sorted(set(points)):
        raise ValidationError(
            "The request isn't valid. CheckpointPercentages must be unique values between 1 and 100 in "
            "ascending order."
        )
    delay = 3600 if delay is None else int(delay)
    if not 0 <= delay <= 172800:
        raise ValidationError("The request isn't valid. CheckpointDelay must be between 0 and 172800.")
    return points, delay


def _alarms(group: Any, preferences: dict[str, Any]) -> list[str]:
    """AlarmSpecification.Alarms: "The names of one or more CloudWatch alarms to monitor for the
    instance refresh. You can specify up to 10 alarms"
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AlarmSpecification.html). AWS
    does not document a check that they exist; the stricter reading refuses an unknown name, which
    a refresh could otherwise never see go into ALARM."""
    names = [str(n) for n in ((preferences.get("AlarmSpecification") or {}).get("Alarms") or [])]
    if len(names) > 10:
        raise ValidationError("The request isn't valid. AlarmSpecification accepts up to 10 alarms.")
    known = _cloudwatch(group).alarms
    missing = [n for n in names if n not in known]
    if missing:
        raise ValidationError(f"The request isn't valid. The CloudWatch alarms {missing} do not exist.")
    return names


def _cloudwatch(group: Any) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = group.autoscaling_backend
    return cloudwatch_backends[backend.account_id][backend.region_name]


def _alarm_in_alarm(group: Any, refresh: dict[str, Any]) -> str | None:
    """The first monitored alarm in ALARM: "If any of the alarms goes into ALARM state, the
    instance refresh fails" (and with AutoRollback it rolls back:
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html)."""
    alarms = _cloudwatch(group).alarms
    return next((n for n in refresh["_alarms"] if n in alarms and alarms[n].state_value == "ALARM"), None)


def _begin_rollback(group: Any, refresh: dict[str, Any], reason: str) -> None:
    """"When rolling back, Amazon EC2 Auto Scaling replaces the instances that have been deployed so
    far" with the group's own configuration, which a refresh changes only once it succeeds."""
    refresh["Status"] = "RollbackInProgress"
    refresh["StatusReason"] = reason
    refresh["_surge"] = 0
    refresh["_paused_until"] = None
    refresh["RollbackDetails"] = {
        "RollbackReason": reason,
        "RollbackStartTime": _iso(CLOCK.now()),
        "PercentageCompleteOnRollback": 0,
        "InstancesToUpdateOnRollback": len(_stale(group, refresh)),
    }
    _settle(group)


def _next_checkpoint(refresh: dict[str, Any]) -> int:
    """The percentage the refresh replaces up to before it pauses next (100: the end)."""
    return next((p for p in refresh["_checkpoints"] if p not in refresh["_reached"]), 100)


def _resolved_version(group: Any, template_id: str, version: str) -> int:
    return group.autoscaling_backend.ec2_backend.get_launch_template(template_id).get_version(version).number


def _stale(group: Any, refresh: dict[str, Any]) -> list[Any]:
    """The InService instances this step still has to replace. A refresh replaces every instance
    it did not launch itself (SkipMatching=false, the API default) or, with SkipMatching, those
    not on the desired version; a rollback replaces those not on the group's own version."""
    serving = [s for s in group.instance_states if s.lifecycle_state == "InService"]
    if refresh["Status"] == "RollbackInProgress":
        template_id, version = refresh["_original"]
    elif refresh["_desired"] and refresh["Preferences"].get("SkipMatching") in (True, "true", "True"):
        template_id, version = refresh["_desired"]["LaunchTemplateId"], refresh["_desired"]["Version"]
    else:
        return [s for s in serving if s.instance.id not in refresh["_launched"]]
    wanted = (template_id, _resolved_version(group, template_id, version))

    def launched(state: Any) -> tuple[Any, Any]:
        template, _name, number = getattr(state, "halfhour_launch", (None, None, None))
        return template, number

    return [s for s in serving if launched(s) != wanted]


def _finish_refresh(group: Any, refresh: dict[str, Any]) -> None:
    refresh["_surge"] = 0
    refresh["EndTime"] = _iso(CLOCK.now())
    refresh["PercentageComplete"] = 100
    refresh["InstancesToUpdate"] = 0
    if refresh["Status"] == "RollbackInProgress":
        refresh["Status"] = "RollbackSuccessful"
        refresh["RollbackDetails"]["PercentageCompleteOnRollback"] = 100
        refresh["RollbackDetails"]["InstancesToUpdateOnRollback"] = 0
        return
    refresh["Status"] = "Successful"
    desired = refresh["_desired"]
    if desired:
        # "After the instance refresh succeeds, Amazon EC2 Auto Scaling updates the Auto Scaling
        # group settings to reflect the new desired configuration".
        backend = group.autoscaling_backend.ec2_backend
        group.ec2_launch_template = backend.get_launch_template(desired["LaunchTemplateId"])
        group.launch_template_version = desired["Version"]
        group.provided_launch_template_version = desired["Version"]


def _advance_refresh(group: Any, refresh: dict[str, Any]) -> None:
    """One step of a refresh (or of its rollback): Pending -> InProgress, then one batch per call.
    Launch before terminate only when MaxHealthyPercentage is above 100: the maximum "is the
    percentage of the desired capacity that your Auto Scaling group can increase to when replacing
    instances", and without room above 100% there is none to launch into. Otherwise terminate
    (100 - MinHealthyPercentage)% of the desired capacity, at least one, then launch their
    replacements: "Setting the minimum healthy percentage to 100 percent limits the rate of
    replacement to one instance at a time"
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html) — the
    docs promise no launch first at 100/100, so the stricter reading is modelled."""
    if refresh["Status"] == "Pending":
        refresh["Status"] = "InProgress"
        refresh["StartTime"] = _iso(CLOCK.now())
        return
    if refresh["Status"] == "Cancelling":
        refresh["_surge"] = 0
        refresh["Status"] = "Cancelled"
        refresh["EndTime"] = _iso(CLOCK.now())
        _settle(group)
        return
    if refresh["Status"] == "InProgress":
        alarm = _alarm_in_alarm(group, refresh)
        if alarm and str(refresh["Preferences"].get("AutoRollback", "false")).lower() == "true":
            _begin_rollback(group, refresh, f"The CloudWatch alarm {alarm} went into the ALARM state.")
            return
        if alarm:
            refresh["_surge"] = 0
            refresh["Status"] = "Failed"
            refresh["StatusReason"] = f"The CloudWatch alarm {alarm} went into the ALARM state."
            refresh["EndTime"] = _iso(CLOCK.now())
            _settle(group)
            return
        if refresh["_paused_until"] is not None:
            if CLOCK.now() < refresh["_paused_until"]:
                return  # "points in time where the instance refresh pauses", for CheckpointDelay
            refresh["_paused_until"] = None
            refresh["StatusReason"] = ""
    if any(s.lifecycle_state in WAITING_STATES for s in group.instance_states):
        return  # replacements are still launching; a refresh waits for them to be InService
    stale = _stale(group, refresh)
    desired = group.desired_capacity or 0
    total = max(1, desired)
    if refresh["Status"] == "InProgress" and not refresh["_surge"]:
        # "A checkpoint is reached when the number of instances replaced reaches the percentage
        # threshold" (equal or higher, never lower); the 100% one ends the refresh instead
        # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-adding-checkpoints-instance-refresh.html).
        checkpoint = _next_checkpoint(refresh)
        if checkpoint < 100 and 100 * (total - min(len(stale), total)) >= checkpoint * total:
            refresh["_reached"].append(checkpoint)
            refresh["_paused_until"] = CLOCK.now() + refresh["_delay"]
            refresh["StatusReason"] = f"Waiting at checkpoint {checkpoint}% for {refresh['_delay']} seconds."
            return
    if not stale:
        _finish_refresh(group, refresh)
        _settle(group)
        return
    low, high = _percentages(refresh["Preferences"])
    # "To reach a checkpoint percentage, Amazon EC2 Auto Scaling will sometimes replace fewer but
    # never more than what the minimum healthy percentage allows": a batch stops at the checkpoint.
    until_checkpoint = len(stale)
    if refresh["Status"] == "InProgress":
        replaced = total - min(len(stale), total)
        until_checkpoint = max(1, math.ceil(_next_checkpoint(refresh) * total / 100) - replaced)
    if refresh["_surge"]:
        # The extra instances are in service: retire as many old ones.
        retire, refresh["_surge"] = min(refresh["_surge"], len(stale)), 0
        for state in stale[:retire]:
            _terminate_now(group, state)
        _settle(group)
    elif high > 100:
        room = max(1, math.floor(desired * high / 100) - desired)
        refresh["_surge"] = min(room, len(stale), until_checkpoint)
        _settle(group)
    else:
        batch = max(1, math.floor(desired * (100 - low) / 100))
        for state in stale[: min(batch, until_checkpoint)]:
            _terminate_now(group, state)
        _settle(group)
    # Replaced means the old instance is gone: a launched surge instance does not count yet, and
    # the percentage never goes down on its way to 100.
    left = len(_stale(group, refresh))
    refresh["InstancesToUpdate"] = min(left, total)
    refresh["PercentageComplete"] = max(0, int(100 * (total - min(left, total)) / total))
    if refresh["Status"] == "RollbackInProgress":
        refresh["RollbackDetails"]["InstancesToUpdateOnRollback"] = refresh["InstancesToUpdate"]
        refresh["RollbackDetails"]["PercentageCompleteOnRollback"] = refresh["PercentageComplete"]


def _group_or_error(response: AutoScalingResponse) -> Any:
    name = response._get_param("AutoScalingGroupName")
    group = response.autoscaling_backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    return group


def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    group = _group_or_error(self)
    name = group.name
    refreshes = REFRESHES.setdefault(name, [])
    if _active_refresh(name):
        raise InstanceRefreshInProgress(
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh."
        )
    params = self._get_params()
    preferences = {k: v for k, v in (params.get("Preferences") or {}).items() if v is not None}
    _percentages(preferences)
    checkpoints, delay = _checkpoints(preferences)
    alarms = _alarms(group, preferences)
    desired = (params.get("DesiredConfiguration") or {}).get("LaunchTemplate")
    if desired:
        template = self.autoscaling_backend.ec2_backend.get_launch_template(desired["LaunchTemplateId"]) if desired.get(
            "LaunchTemplateId") else self.autoscaling_backend.ec2_backend.get_launch_template_by_name(desired["LaunchTemplateName"])
        desired = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name,
                   "Version": desired.get("Version") or "$Default"}
    if str(preferences.get("AutoRollback", "false")).lower() == "true":
        # The text AWS answers (its API reference names the rule, not the message).
        if not desired:
            raise ValidationError(
                "The request isn't valid. The AutoRollback parameter cannot be set to true when the "
                "DesiredConfiguration parameter is empty. Set AutoRollback to false or specify a desired "
                "configuration and try again."
            )
        # "The rollback option is not available if the Auto Scaling group is configured to use the
        # $Latest or $Default launch template version."
        if _floating(group.launch_template_version) or _floating(desired["Version"]):
            raise ValidationError(
                "The request isn't valid. AutoRollback is not supported when the Auto Scaling group or the "
                "desired configuration uses the $Latest or $Default launch template version. Use a numbered "
                "version or set AutoRollback to false."
            )
    refresh = {
        "InstanceRefreshId": str(uuid.uuid4()),
        "AutoScalingGroupName": name,
        "Status": "Pending",
        "StatusReason": "",
        "PercentageComplete": 0,
        "InstancesToUpdate": len(group.instance_states),
        "Preferences": preferences,
        "_desired": desired,
        "_original": (group.ec2_launch_template.id if group.ec2_launch_template else None, group.launch_template_version),
        "_launched": set(),
        "_surge": 0,
        "_checkpoints": checkpoints,
        "_delay": delay,
        "_reached": [],
        "_paused_until": None,
        "_alarms": alarms,
    }
    refreshes.insert(0, refresh)
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


def _public_refresh(refresh: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in refresh.items() if not k.startswith("_")}
    prefs = dict(shown["Preferences"])
    for key in ("MinHealthyPercentage", "InstanceWarmup", "MaxHealthyPercentage", "CheckpointDelay"):
        if key in prefs:
            prefs[key] = int(prefs[key])
    if "CheckpointPercentages" in prefs:
        prefs["CheckpointPercentages"] = [int(p) for p in prefs["CheckpointPercentages"]]
    for key in ("AutoRollback", "SkipMatching"):
        if key in prefs:
            prefs[key] = str(prefs[key]).lower() == "true"
    shown["Preferences"] = prefs
    if refresh["_desired"]:
        shown["DesiredConfiguration"] = {"LaunchTemplate": refresh["_desired"]}
    return shown


def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
    group = _group_or_error(self)
    _expire_actions(self.autoscaling_backend)
    wanted = set(self._get_param("InstanceRefreshIds", []) or [])
    refreshes = REFRESHES.get(group.name, [])
    for refresh in refreshes:
        if refresh["Status"] in ACTIVE_REFRESH:
            _advance_refresh(group, refresh)
    shown = [_public_refresh(r) for r in refreshes if not wanted or r["InstanceRefreshId"] in wanted]
    return ActionResult({"InstanceRefreshes": shown})


def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    # "Cancels an instance refresh or rollback that is in progress."
    name = self._get_param("AutoScalingGroupName")
    for refresh in REFRESHES.get(name, []):
        if refresh["Status"] in ("Pending", "InProgress", "RollbackInProgress"):
            refresh["Status"] = "Cancelling"
            return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})
    raise ActiveInstanceRefreshNotFound("No in progress or pending Instance Refresh found for Auto Scaling group " + name)


def rollback_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    """RollbackInstanceRefresh (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RollbackInstanceRefresh.html):
    cancels the running refresh and replaces the instances it launched with the group's own
    configuration, which a refresh changes only once it succeeds."""
    group = _group_or_error(self)
    refresh = next((r for r in REFRESHES.get(group.name, []) if r["Status"] in ROLLBACK_FROM), None)
    if refresh is None:
        raise ActiveInstanceRefreshNotFound(
            "The request failed because an active instance refresh or rollback for the specified Auto Scaling "
            "group was not found."
        )
    if not refresh["_desired"] or _floating(group.launch_template_version):
        raise IrreversibleInstanceRefresh(
            "The request failed because a desired configuration was not found or an incompatible launch template "
            "(uses a Systems Manager parameter instead of an AMI ID) or launch template version ($Latest or "
            "$Default) is present on the Auto Scaling group."
        )
    _begin_rollback(group, refresh, "RollbackInstanceRefresh was called")
    return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})


_original_update_group = AutoScalingResponse.update_auto_scaling_group


def update_auto_scaling_group(self: AutoScalingResponse) -> ActionResult:
    """"If you attempt to update an Auto Scaling group's launch template, launch configuration, or
    mixed instances policy while an instance refresh with a desired configuration is active, the
    request will fail" (instance-refresh-overview.html, Update restriction)."""
    refresh = _active_refresh(self._get_param("AutoScalingGroupName"))
    changes_template = self._get_param("LaunchTemplate") or self._get_param("MixedInstancesPolicy")
    if refresh and refresh["_desired"] and changes_template:
        raise ValidationError(
            "An active instance refresh with a desired configuration exists. All configuration options derived "
            "from the desired configuration are not available for update while the instance refresh is active."
        )
    group = _group_or_error(self)
    keep_policy = group.mixed_instances_policy if not self._get_param("MixedInstancesPolicy") else None
    result = _original_update_group(self)
    if keep_policy is not None:
        group.mixed_instances_policy = keep_policy  # moto resets a policy the update did not name
    return result


# --------------------------------------------------------------------------- standby
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html: the instance
# is deregistered from the group's target groups, and "Elastic Load Balancing waits 300 seconds
# by default before completing the deregistration process"; until then it is EnteringStandby
# (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html).

_original_enter_standby = asg_models.AutoScalingBackend.enter_standby_instances


def _deregistration_delay(group: Any) -> float:
    delays = [float(tg.attributes.get("deregistration_delay.timeout_seconds", 300)) for tg in _target_groups(group)]
    return max(delays, default=0.0)


def _enter_standby(self: Any, group_name: str, instance_ids: list[str], should_decrement: bool) -> list[Any]:
    activities = _original_enter_standby(self, group_name, instance_ids, should_decrement)
    group = self.autoscaling_groups[group_name]
    ready_at = CLOCK.now() + _deregistration_delay(group)
    for state in group.instance_states:
        if state.instance.id in instance_ids:
            state.lifecycle_state = "EnteringStandby"
            state.halfhour_standby_at = ready_at
    _sync_target_groups(group)
    _settle_standby(self)
    return activities


def _settle_standby(backend: Any) -> None:
    """EnteringStandby becomes Standby once the target groups' deregistration delay has passed."""
    now = CLOCK.now()
    for group in backend.autoscaling_groups.values():
        for state in group.instance_states:
            if state.lifecycle_state == "EnteringStandby" and now >= getattr(state, "halfhour_standby_at", 0):
                state.lifecycle_state = "Standby"


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
        _record_reboot(instance_id)
    ami.state = "pending"
    ami.creation_date = datetime.fromtimestamp(CLOCK.now(), tz=timezone.utc)
    PENDING_IMAGES[ami.id] = CLOCK.now() + IMAGE_SETTLE_SECONDS
    return ActionResult({"ImageId": ami.id})


# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html: with
# DeleteAssociatedSnapshots, deregistration deletes the AMI's snapshots (those of other AMIs
# too are kept: "skipped") and reports each in DeleteSnapshotResults. Without it, the snapshot
# stays; "You cannot delete a snapshot of the root device of an EBS volume used by a
# registered AMI" (API_DeleteSnapshot.html), and a DeleteSnapshot right after the
# deregistration still answers InvalidSnapshot.InUse while EC2 finishes it (the docs give no
# figure; SNAPSHOT_RELEASE_SECONDS of the emulator clock).
SNAPSHOT_RELEASE_SECONDS = 10.0
RELEASED_AT: dict[str, float] = {}  # snapshot id -> when its deregistered AMI lets go of it


def deregister_image(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = self.ec2_backend.amis.get(ami_id)
    snapshot = getattr(ami, "ebs_snapshot", None)
    self.ec2_backend.deregister_image(ami_id)
    if snapshot is None:
        return ActionResult({"Return": True})
    if not _flag(self, "DeleteAssociatedSnapshots"):
        RELEASED_AT[snapshot.id] = CLOCK.now() + SNAPSHOT_RELEASE_SECONDS
        return ActionResult({"Return": True})
    shared = any(getattr(other, "ebs_snapshot", None) is snapshot for other in self.ec2_backend.amis.values())
    if not shared:
        self.ec2_backend.snapshots.pop(snapshot.id, None)
    return ActionResult({"Return": True, "DeleteSnapshotResults": [
        {"SnapshotId": snapshot.id, "ReturnCode": "skipped" if shared else "success"}]})


_original_delete_snapshot = EBSBackend.delete_snapshot


def _delete_snapshot(self: Any, snapshot_id: str) -> Any:
    if CLOCK.now() < RELEASED_AT.get(snapshot_id, 0.0):
        raise InvalidSnapshotInUse(snapshot_id, "an AMI being deregistered")
    return _original_delete_snapshot(self, snapshot_id)


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
                for state in group.instance_states + _warm(group):
                    action = getattr(state, "halfhour_action", None)
                    if action:
                        launching = state.lifecycle_state in ("Pending:Wait", "Warmed:Pending:Wait")
                        entry = {
                            "AutoScalingGroupName": group.name,
                            "LifecycleHookName": action["hook"],
                            "LifecycleActionToken": action["token"],
                            "EC2InstanceId": state.instance.id,
                            "LifecycleTransition": LAUNCHING if launching else TERMINATING,
                        }
                        # Only groups with a warm pool send Origin and Destination:
                        # https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pools-eventbridge-events.html
                        if group.warm_pool is not None:
                            into_pool = state.lifecycle_state == "Warmed:Pending:Wait"
                            entry.update(Origin="EC2", Destination="WarmPool" if into_pool else "AutoScalingGroup")
                        actions.append(entry)
    return actions


# --------------------------------------------------------------------------- warm pools
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html: an
# instance launched into the pool "first pauses to perform a custom action when it reaches the
# Warmed:Pending:Wait state"; afterwards it rests in Warmed:<PoolState>. moto keeps only the
# pool's configuration.

_original_put_warm_pool = asg_models.FakeAutoScalingGroup.put_warm_pool


def _put_warm_pool(self: Any, max_group_prepared_capacity: Any, min_size: Any, pool_state: Any,
                   instance_reuse_policy: Any) -> None:
    _original_put_warm_pool(self, max_group_prepared_capacity, min_size, pool_state, instance_reuse_policy)
    missing = (self.warm_pool.min_size or 0) - len(_warm(self))
    if missing <= 0:
        return
    before = set(id(s) for s in self.instance_states)
    self.replace_autoscaling_group_instances(missing, self.get_propagated_tags())
    hooks = _hooks(self, LAUNCHING)
    for state in [s for s in self.instance_states if id(s) not in before]:
        self.instance_states.remove(state)
        _warm(self).append(state)
        if hooks:
            _start_action(state, hooks[0], "Warmed:Pending:Wait")
        else:
            state.lifecycle_state = f"Warmed:{self.warm_pool.pool_state}"


def describe_warm_pool(self: AutoScalingResponse) -> ActionResult:
    group = _group_or_error(self)
    _expire_actions(self.autoscaling_backend)
    instances = [{"InstanceId": s.instance.id, "InstanceType": s.instance.instance_type,
                  "AvailabilityZone": s.instance.placement, "LifecycleState": s.lifecycle_state,
                  "HealthStatus": "Healthy"} for s in _warm(group)]
    return ActionResult({"WarmPoolConfiguration": group.warm_pool, "Instances": instances})


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


def _group_member(instance_id: str) -> tuple[Any, Any] | tuple[None, None]:
    """The group an instance is a member of, and its state there."""
    for account in asg_models.autoscaling_backends.values():
        for backend in account.values():
            for group in backend.autoscaling_groups.values():
                for state in group.instance_states:
                    if state.instance.id == instance_id:
                        return group, state
    return None, None


def _record_reboot(instance_id: str) -> None:
    REBOOTS[instance_id] = REBOOTS.get(instance_id, 0) + 1
    _, state = _group_member(instance_id)
    REBOOT_LOG.append({"instance_id": instance_id, "lifecycle_state": state and state.lifecycle_state,
                       "time": CLOCK.now()})


def reboot_instances(self: InstanceResponse) -> ActionResult:
    if not _flag(self, "DryRun"):
        for instance_id in self._get_multi_param("InstanceId"):
            _record_reboot(instance_id)
    return _original_reboot(self)


# --------------------------------------------------------------------------- SSM health probes

class InvalidInstanceId(SSMException):
    def __init__(self, instance_id: str) -> None:
        super().__init__("InvalidInstanceId", f"Instances [[{instance_id}]] not in a valid state for account")


def _image_of(response: Any, instance_id: str) -> str | None:
    """The image an instance runs (a broken image fails the probe on every instance it runs on)."""
    from moto.ec2.models import ec2_backends

    try:
        return ec2_backends[response.current_account][response.region].get_instance(instance_id).image_id
    except Exception:  # moto raises its own not-found error; an unknown instance runs nothing
        return None


def _group_of(instance_id: str) -> str | None:
    group, _ = _group_member(instance_id)
    return group.name if group else None


def _managed_node(ec2_backend: Any, instance_id: str) -> bool:
    """A managed node, as Systems Manager requires one: "you must attach an AWS Identity and
    Access Management (IAM) instance profile to the instance", its agent registered (after
    SSM_REGISTRATION_SECONDS here), and a valid state (not shutting-down or terminated)
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/troubleshooting-managed-nodes.html)."""
    try:
        instance = ec2_backend.get_instance(instance_id)
    except Exception:  # moto raises its own not-found error; to SSM the node is just unknown
        return False
    if instance.state in ("shutting-down", "terminated") or not getattr(instance, "iam_instance_profile", None):
        return False
    return CLOCK.now() >= LAUNCHED_AT.get(instance_id, 0.0) + SSM_REGISTRATION_SECONDS


_original_send_command = SimpleSystemManagerResponse.send_command


def send_command(self: SimpleSystemManagerResponse) -> ActionResult:
    """SendCommand to instances that are not managed nodes answers InvalidInstanceId
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html)."""
    from moto.ec2.models import ec2_backends

    ec2_backend = ec2_backends[self.current_account][self.region]
    for instance_id in self._get_param("InstanceIds", []) or []:
        if not _managed_node(ec2_backend, instance_id):
            raise InvalidInstanceId(instance_id)
    return _original_send_command(self)


def _instance_ids_from_targets(self: Any) -> list[str]:
    """moto matches every instance of the region when a command names no Targets; AWS runs a
    command by InstanceIds on those instances only."""
    return _original_targets(self) if self.targets else []


_original_targets = ssm_models.Command._get_instance_ids_from_targets


def get_command_invocation(self: SimpleSystemManagerResponse) -> ActionResult:
    """Answer a probe command with the outcome a test set for the instance, or for its group
    (default healthy)."""
    instance_id = self._get_param("InstanceId")
    response = dict(
        self.ssm_backend.get_command_invocation(
            self._get_param("CommandId"), instance_id, self._get_param("PluginName")
        )
    )
    outcome = (PROBES.get(instance_id) or PROBES.get(f"image:{_image_of(self, instance_id)}")
               or PROBES.get(f"group:{_group_of(instance_id)}") or PROBES.get("*"))
    if outcome == "running":
        response.update(Status="InProgress", StatusDetails="InProgress", ResponseCode=-1)
    elif outcome == "failing":
        response.update(Status="Failed", StatusDetails="Failed", ResponseCode=22, StandardOutputContent="",
                        StandardErrorContent="curl: (22) The requested URL returned error: 503")
    else:
        response.update(Status="Success", StatusDetails="Success", ResponseCode=0, StandardOutputContent="ok")
    return ActionResult(response)


# --------------------------------------------------------------------------- S3 without s3:ListBucket
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html: "If you don't have the
# s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Access Denied" for a key
# that does not exist. The emulator has no IAM: a test names the buckets whose readers lack it.
WITHOUT_LIST_BUCKET: set[str] = set()

_original_get_object = S3Response.get_object


def get_object(self: S3Response) -> Any:
    try:
        return _original_get_object(self)
    except MissingKey:
        if self.bucket_name in WITHOUT_LIST_BUCKET:
            raise S3AccessDeniedError()
        raise


# --------------------------------------------------------------------------- SNS structured messages

_sns_publish = sns_models.SNSBackend.publish


def _publish(self: Any, message: str, arn: str | None = None, phone_number: str | None = None,
             subject: str | None = None, message_attributes: Any = None, group_id: str | None = None,
             deduplication_id: str | None = None, message_structure: str | None = None) -> str:
    # AWS checks a structured message at Publish, subscribers or not (moto only when it delivers):
    # "If you set MessageStructure to json, the value of the Message parameter must: be a
    # syntactically valid JSON object; and contain at least a top-level JSON key of "default"
    # with a value that is a string" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
    if message_structure == "json":
        try:
            body = json.loads(message)
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise sns_exceptions.InvalidParameterValue(
                "Invalid parameter: Message Structure - JSON message body failed to parse")
        if not isinstance(body.get("default"), str):
            raise sns_exceptions.InvalidParameterValue(
                "Invalid parameter: Message Structure - No default entry in JSON message body")
    return _sns_publish(self, message, arn=arn, phone_number=phone_number, subject=subject,
                        message_attributes=message_attributes, group_id=group_id,
                        deduplication_id=deduplication_id, message_structure=message_structure)


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
    elif health_check_id in HEALTH_STATUS:
        result = HEALTH_STATUS[health_check_id]
    else:
        result = _endpoint_healthy(check)
    return not result if check.inverted else result


# Route53 counts a status of 200 or greater and less than 400 as healthy and, for the string
# matching types, searches the first 5,120 bytes of the body for SearchString (case counts); it
# follows no redirect. It sends FullyQualifiedDomainName as the Host header (and as SNI with
# EnableSNI): https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html
SEARCHED_BYTES = 5120


def _endpoint_healthy(check: Any) -> bool:
    answer = ENDPOINTS.get((check.fqdn or check.ip_address or "", int(check.port or 80), check.resource_path or "/"))
    if answer is None:
        return True  # a new health check starts healthy, and nothing says otherwise
    if not 200 <= int(answer["status"]) < 400:
        return False
    if check.type_ in ("HTTP_STR_MATCH", "HTTPS_STR_MATCH"):
        return (check.search_string or "").encode() in answer.get("body", "").encode()[:SEARCHED_BYTES]
    return True


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


class _BatchRefused(r53_exceptions.Route53ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidChangeBatch", message)


def _record_key(record: dict[str, Any]) -> tuple[str, str, str | None]:
    return (record["Name"].rstrip(".").lower() + ".", record["Type"], record.get("SetIdentifier"))


def _record_values(record: dict[str, Any]) -> dict[str, Any]:
    """What a DELETE must repeat: every value the record was created with."""
    alias = record.get("AliasTarget")
    return {
        "failover": record.get("Failover"),
        "health_check": record.get("HealthCheckId"),
        "alias": alias and (alias.get("DNSName", "").rstrip(".").lower(), alias.get("HostedZoneId"),
                            str(alias.get("EvaluateTargetHealth", False)).lower()),
        "ttl": None if alias else str(record.get("TTL")),
        "records": None if alias else sorted(
            r["Value"] if isinstance(r, dict) else r for r in record.get("ResourceRecords", [])),
    }


def _as_record(rrset: Any) -> dict[str, Any]:
    return {"Name": rrset.name, "Type": rrset.type, "SetIdentifier": rrset.set_identifier,
            "Failover": rrset.failover, "HealthCheckId": rrset.health_check_id,
            "AliasTarget": rrset.alias_target, "TTL": rrset.ttl, "ResourceRecords": rrset.records}


_original_change_record_sets = r53_models.Route53Backend.change_resource_record_sets


def _change_record_sets(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    """Route53 validates a change batch as a whole against the zone as the changes before each one
    leave it, then "either makes all or none of the changes"
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html).
    moto applies change by change, accepts a CREATE of a record that exists with other values or a
    failover record beside a simple one of the same name and type, and deletes every record
    sharing a SetIdentifier: here each is refused with Route53's InvalidChangeBatch, and a DELETE
    must repeat the record's values ("you must specify all the same values that you specified when
    you created it", same page)."""
    zone = self.get_hosted_zone(zoneid)
    after = {_record_key(_as_record(r)): _as_record(r) for r in zone.rrsets}
    for change in change_list:
        record, action = change["ResourceRecordSet"], change["Action"]
        key = _record_key(record)
        shown = f"[name='{key[0]}', type='{key[1]}'" + (f", set-identifier='{key[2]}'" if key[2] else "") + "]"
        existing = after.get(key)
        if action == "DELETE":
            if existing is None:
                raise _BatchRefused(f"Tried to delete resource record set {shown} but it was not found")
            if _record_values(existing) != _record_values(record):
                raise _BatchRefused(f"Tried to delete resource record set {shown} but the values provided do not match the current values")
            del after[key]
            continue
        if action == "CREATE" and existing is not None:
            raise _BatchRefused(f"Tried to create resource record set {shown} but it already exists")
        mixed = [k for k in after if k[:2] == key[:2] and (k[2] is None) != (key[2] is None)]
        if mixed:
            raise _BatchRefused(f"RRSet with DNS name {key[0]}, type {key[1]} cannot be created as other RRSets exist with the same name and type.")
        after[key] = record
    # Valid as a whole: apply each change; a DELETE removes exactly the record it names.
    for change in change_list:
        if change["Action"] == "DELETE":
            key = _record_key(change["ResourceRecordSet"])
            zone.rrsets = [r for r in zone.rrsets if _record_key(_as_record(r)) != key]
            zone.rr_changes.append(copy.deepcopy(change))
        else:
            # moto also refuses a CREATE identical to one in its change journal, even after that
            # record was deleted (a redeploy after an uninstall); Route53 judges the zone as it is.
            journaled = copy.deepcopy(change)  # as moto journals it: the name without its dot
            journaled["ResourceRecordSet"]["Name"] = journaled["ResourceRecordSet"]["Name"].strip(".")
            zone.rr_changes[:] = [c for c in zone.rr_changes if c != journaled]
            _original_change_record_sets(self, zoneid, [change])


def _resolve(zone_id: str, name: str, kind: str = "A") -> dict[str, Any]:
    """Answer a query (A unless `kind` says AAAA) for `name` with Route53's failover routing: the PRIMARY record while
    its health check is healthy (or it has none), else the SECONDARY; a simple record (the site's
    own, before halfhour adopts it) answers `SIMPLE`."""
    from moto.route53.models import route53_backends

    wanted = name.rstrip(".") + "."
    for account in route53_backends.values():
        for backend in account.values():
            zone = backend.zones.get(zone_id)
            if zone is None:
                continue
            named = [r for r in zone.rrsets if r.name.rstrip(".") + "." == wanted and r.type == kind]
            records = {r.failover: r for r in named if r.failover}
            primary, secondary = records.get("PRIMARY"), records.get("SECONDARY")
            if primary is None and secondary is None:
                # Simple routing answers with the record itself, health or not:
                # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-simple.html
                simple = next((r for r in named if not r.set_identifier), None)
                if simple is None:
                    raise KeyError(f"no records for {name}")
                target = (simple.alias_target or {}).get("DNSName") or list(simple.records)
                return {"answer": "SIMPLE", "set_identifier": None, "target": target}
            primary_healthy = primary is not None and (
                not primary.health_check_id or _evaluate_health_check(backend, primary.health_check_id)
            )
            chosen = primary if primary_healthy or secondary is None else secondary
            target = (chosen.alias_target or {}).get("DNSName") or [r for r in chosen.records]
            return {"answer": chosen.failover, "set_identifier": chosen.set_identifier, "target": target}
    raise KeyError(f"no hosted zone {zone_id}")


# --------------------------------------------------------------------------- what visitors get

# The static site behind CloudFront, as far as halfhour uses it: a distribution whose origin is
# the bucket through origin access control, with custom error responses and a response headers
# policy. Created through POST /_halfhour/static-distribution (registered in moto's CloudFront
# too, so DescribeDistribution answers); moto keeps neither the origin's OAC nor the headers.
DISTRIBUTIONS: dict[str, dict[str, Any]] = {}  # domain name -> {"id", "arn", "bucket", ...}


def _s3_bucket(name: str) -> Any:
    from moto.s3.models import s3_backends

    for account in s3_backends.values():
        bucket = account["global"].buckets.get(name)
        if bucket is not None:
            return bucket
    return None


def _statements(bucket: Any) -> list[dict[str, Any]]:
    policy = json.loads(bucket.policy.decode()) if bucket.policy else {}
    return policy.get("Statement", [])


def _grants_get(statement: dict[str, Any], bucket: str) -> bool:
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = statement.get("Resource", [])
    resources = [resources] if isinstance(resources, str) else resources
    return (statement.get("Effect") == "Allow" and "s3:GetObject" in actions
            and any(r.endswith(f":::{bucket}/*") for r in resources))


def _object(bucket: Any, key: str) -> bytes | None:
    found = bucket.keys.get(key) if key else None
    return found.value if found is not None else None


def _website(name: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """An S3 website endpoint: the index document for a folder, the error document (status 404)
    for a missing key, and 403 unless the bucket policy lets everyone read its objects
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/WebsiteAccessPermissionsReqd.html,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/IndexDocumentSupport.html)."""
    bucket = _s3_bucket(name)
    if bucket is None:
        return 404, {}, b"<h1>404 Not Found</h1><p>Code: NoSuchBucket</p>"
    if not bucket.website_configuration:
        return 404, {}, b"<h1>404 Not Found</h1><p>Code: NoSuchWebsiteConfiguration</p>"
    config = bucket.website_configuration.decode()
    index = re.search(r"<Suffix>([^<]+)</Suffix>", config)
    error = re.search(r"<ErrorDocument>\s*<Key>([^<]+)</Key>", config)
    public = any(_grants_get(st, name) and st.get("Principal") in ("*", {"AWS": "*"}) for st in _statements(bucket))
    if not public:
        return 403, {}, b"<h1>403 Forbidden</h1><p>Code: AccessDenied</p>"
    key = path.lstrip("/")
    if key == "" or key.endswith("/"):
        key += index.group(1) if index else ""
    body = _object(bucket, key)
    if body is not None:
        return 200, {"Content-Type": "text/html"}, body
    page = _object(bucket, error.group(1)) if error else None
    return 404, {"Content-Type": "text/html"}, page if page is not None else b"<h1>404 Not Found</h1><p>Code: NoSuchKey</p>"


def _cloudfront(distribution: dict[str, Any], host: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """A distribution in front of a private bucket: its origin access control reads an object
    only where the bucket policy allows the cloudfront.amazonaws.com principal for this
    distribution's ARN (AWS:SourceArn), and a missing key is 403, not 404, without s3:ListBucket
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html);
    an error the distribution has a custom error response for answers that response's code with
    its page (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/GeneratingCustomErrorResponses.html);
    the response headers policy's custom headers go on every response; a Host that is neither
    the distribution's domain nor one of its alternate names is refused."""
    if host != distribution["domain_name"] and host not in distribution["aliases"]:
        return 403, {}, b"<h1>403 ERROR</h1><p>The request could not be satisfied. Bad request.</p>"
    bucket = _s3_bucket(distribution["bucket"])
    allowed = bucket is not None and any(
        _grants_get(st, distribution["bucket"])
        and st.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
        and st.get("Condition", {}).get("StringEquals", {}).get("AWS:SourceArn") == distribution["arn"]
        for st in _statements(bucket))

    def fetch(key: str) -> tuple[int, bytes]:
        body = _object(bucket, key) if allowed and key else None
        return (200, body) if body is not None else (403, b"<Error><Code>AccessDenied</Code></Error>")

    status, body = fetch(path.lstrip("/") or distribution["default_root_object"])
    if status != 200 and status in distribution["error_responses"]:
        code, page_path = distribution["error_responses"][status]
        page_status, page = fetch(page_path.lstrip("/"))
        if page_status == 200:
            status, body = code, page
    return status, {"Content-Type": "text/html", **distribution["headers"]}, body


def visit(host: str, path: str, depth: int = 0) -> tuple[int, dict[str, str], bytes]:
    """What a visitor's browser gets for host + path: a modelled endpoint (the load balancer), a
    distribution, an S3 website endpoint, or a name in a hosted zone resolved (failover
    routing, aliases followed; an alias to an S3 website endpoint serves the bucket named like
    the name, as S3 website hosting requires)."""
    host = host.lower().rstrip(".")
    for port in (443, 80):
        answer = ENDPOINTS.get((host, port, path))
        if answer is not None:
            return int(answer["status"]), dict(answer["headers"]), answer["body"].encode()
    if host in DISTRIBUTIONS:
        return _cloudfront(DISTRIBUTIONS[host], host, path)
    website = re.match(r"^(.+)\.s3-website[.-][a-z0-9-]+\.amazonaws\.com(\.cn)?$", host)
    if website:
        return _website(website.group(1), path)
    from moto.route53.models import route53_backends

    for account in route53_backends.values():
        for backend in account.values():
            for zone_id, zone in backend.zones.items():
                if depth > 4 or not (host + ".").endswith(zone.name.rstrip(".") + "."):
                    continue
                try:
                    target = _resolve(zone_id, host)["target"]
                except KeyError:
                    continue
                if isinstance(target, str):
                    target = target.lower().rstrip(".")
                    if re.match(r"^s3-website[.-]", target):
                        return _website(host, path)
                    if target in DISTRIBUTIONS:
                        return _cloudfront(DISTRIBUTIONS[target], host, path)
                    return visit(target, path, depth + 1)
    return 502, {}, f"no answer for {host}".encode()


def _static_distribution(payload: dict[str, Any]) -> dict[str, Any]:
    """Create what the template's CloudFront mode creates: an origin access control, a
    distribution (the bucket's REST endpoint as its origin, the record as alternate name, 403 and
    404 answered with the page) and the response headers it adds."""
    from moto.cloudfront.models import cloudfront_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    backend = cloudfront_backends[DEFAULT_ACCOUNT_ID]["global"]
    bucket, alias = str(payload["bucket"]), str(payload["alias"])
    page = "/" + str(payload.get("page_key", "maintenance.html"))
    control = backend.create_origin_access_control({
        "Name": f"{bucket}-oac", "SigningProtocol": "sigv4", "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3"})
    origin = {"Id": "bucket", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
              "S3OriginConfig": {"OriginAccessIdentity": ""}}
    errors = [{"ErrorCode": code, "ResponseCode": "503", "ResponsePagePath": page, "ErrorCachingMinTTL": "10"}
              for code in ("403", "404")]
    dist, _, _ = backend.create_distribution({
        "CallerReference": f"{bucket}-{uuid.uuid4()}", "Comment": "halfhour static site", "Enabled": True,
        "Aliases": {"Quantity": 1, "Items": [alias]},
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "bucket", "ViewerProtocolPolicy": "redirect-to-https"},
        "CustomErrorResponses": {"Quantity": 2, "Items": errors},
    }, [])
    DISTRIBUTIONS[dist.domain_name] = {
        "id": dist.distribution_id, "arn": dist.arn, "domain_name": dist.domain_name, "bucket": bucket,
        "aliases": [alias.lower()], "origin_access_control": control.id, "default_root_object": "",
        "error_responses": {int(e["ErrorCode"]): (int(e["ResponseCode"]), e["ResponsePagePath"]) for e in errors},
        "headers": {"Retry-After": str(payload.get("retry_after", 120))},
    }
    return {"id": dist.distribution_id, "arn": dist.arn, "domain_name": dist.domain_name,
            "origin_access_control": control.id}


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
    AutoScalingResponse.rollback_instance_refresh = rollback_instance_refresh
    AutoScalingResponse.describe_warm_pool = describe_warm_pool
    asg_models.FakeAutoScalingGroup.put_warm_pool = _put_warm_pool
    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group
    asg_models.AutoScalingBackend.enter_standby_instances = _enter_standby
    asg_models.InstanceState.launch_template = property(_instance_launch_template)
    AutoScalingResponse.set_desired_capacity = set_desired_capacity
    for name in ("describe_auto_scaling_instances", "describe_auto_scaling_groups"):
        setattr(AutoScalingResponse, name, _with_expiry(getattr(AutoScalingResponse, name)))
    AmisResponse.create_image = create_image
    LaunchTemplates.create_launch_template_version = create_launch_template_version
    AmisResponse.describe_images = describe_images
    AmisResponse.deregister_image = deregister_image
    EBSBackend.delete_snapshot = _delete_snapshot
    InstanceResponse.reboot_instances = reboot_instances
    SimpleSystemManagerResponse.get_command_invocation = get_command_invocation
    SimpleSystemManagerResponse.send_command = send_command
    ssm_models.Command._get_instance_ids_from_targets = _instance_ids_from_targets
    Route53.get_health_check_status = get_health_check_status
    S3Response.get_object = get_object
    Route53.update_health_check = update_health_check
    r53_models.Route53Backend.change_resource_record_sets = _change_record_sets
    LambdaResponse.invoke = lambda_invoke
    sns_models.SNSBackend.publish = _publish
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
# Bucket operations by their subresource (path-style: /<bucket>?<subresource>), as the S3 REST
# API names them (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html).
S3_BUCKET_ACTIONS = {
    ("PUT", ""): "CreateBucket", ("HEAD", ""): "HeadBucket", ("GET", ""): "ListObjects",
    ("PUT", "tagging"): "PutBucketTagging", ("GET", "tagging"): "GetBucketTagging",
    ("PUT", "website"): "PutBucketWebsite", ("PUT", "encryption"): "PutBucketEncryption",
    ("PUT", "versioning"): "PutBucketVersioning", ("PUT", "publicAccessBlock"): "PutPublicAccessBlock",
    ("PUT", "policy"): "PutBucketPolicy",
}


def _s3_action(method: str, path: str, query: str) -> str:
    if path.strip("/").count("/") >= 1:
        return S3_ACTIONS.get(method, f"{method} {path}")
    subresource = next((k for k in urllib.parse.parse_qs(query, keep_blank_values=True)
                        if k in {"tagging", "website", "encryption", "versioning", "publicAccessBlock", "policy"}), "")
    return S3_BUCKET_ACTIONS.get((method, subresource), f"{method} {path}")


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
            action = _s3_action(method, path, environ.get("QUERY_STRING", ""))
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
        if path.startswith("/_halfhour/site/"):
            # GET /_halfhour/site/<host>/<path>: what a visitor's browser gets, raw.
            host, _, rest = path[len("/_halfhour/site/"):].partition("/")
            with self.lock:
                status, headers, body = visit(host, "/" + rest)
            reasons = {200: "OK", 301: "Moved Permanently", 403: "Forbidden", 404: "Not Found",
                       502: "Bad Gateway", 503: "Service Unavailable"}
            start_response(f"{status} {reasons.get(status, 'Status')}",
                           [*headers.items(), ("Content-Length", str(len(body)))])
            return [body]
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
        if route == "reboot-log" and method == "GET":
            return REBOOT_LOG
        if route == "s3-without-list-bucket" and method == "POST":
            WITHOUT_LIST_BUCKET.add(str(payload["bucket"]))
            return {"ok": True}
        if route.startswith("cfn-response/") and method == "PUT":
            # A CloudFormation custom resource's pre-signed ResponseURL, as the test's stand-in.
            CFN_RESPONSES.append({"key": route.split("/", 1)[1], "body": payload})
            return {"ok": True}
        if route == "cfn-responses" and method == "GET":
            return CFN_RESPONSES
        if route == "endpoint" and method == "POST":
            # {"host", "port", "path", "status", "body", "headers"}: what that endpoint answers now.
            key = (str(payload["host"]), int(payload.get("port", 443)), str(payload.get("path", "/")))
            ENDPOINTS[key] = {"status": int(payload["status"]), "body": str(payload.get("body", "")),
                              "headers": dict(payload.get("headers", {}))}
            return {"ok": True}
        if route == "static-distribution" and method == "POST":
            return _static_distribution(payload)
        if route == "health-check-status" and method == "POST":
            HEALTH_STATUS[str(payload["health_check_id"])] = bool(payload["healthy"])
            return {"ok": True}
        if route == "instance-probe" and method == "POST":
            outcome = str(payload["outcome"])
            if outcome not in ("healthy", "failing", "running"):
                raise ValueError("outcome must be healthy, failing or running")
            if "group" in payload:
                key = f"group:{payload['group']}"
            elif "image" in payload:
                key = f"image:{payload['image']}"
            else:
                key = str(payload["instance_id"])
            PROBES[key] = outcome
            return {"ok": True}
        if route == "clock" and method == "POST":
            CLOCK.offset += float(payload.get("advance_seconds", 0))
            return {"now": CLOCK.now(), "offset": CLOCK.offset}
        if route == "functions" and method == "POST":
            FUNCTIONS.add(str(payload["name"]))
            return {"ok": True}
        if route == "resolve" and method == "GET":
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            return _resolve(query["zone"][0], query["name"][0], query.get("type", ["A"])[0])
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
    global SSM_REGISTRATION_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")),
                        help="0 picks a free port; the chosen one is printed")
    parser.add_argument("--ssm-registration-seconds", type=float, default=SSM_REGISTRATION_SECONDS,
                        help="how long after launch an instance with a profile becomes an SSM managed node")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started it exits (test harnesses)")
    args = parser.parse_args(argv)
    SSM_REGISTRATION_SECONDS = args.ssm_registration_seconds
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

"""Auto Scaling as AWS documents it where moto 5.2 falls short: lifecycle hooks, instance
refresh, standby, capacity bounds, warm pools, and the lifecycle actions EventBridge would deliver."""

from __future__ import annotations

import math
import uuid
from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult

from .state import STATE, _iso


LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
# States that count toward desired capacity (AWS excludes Standby and the terminating states).
COUNTED_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")


# --------------------------------------------------------------------------- lifecycle hooks


def _hooks(group: Any, transition: str) -> list[Any]:
    return [
        h
        for h in group.autoscaling_backend.describe_lifecycle_hooks(group.name)
        if h.lifecycle_transition == transition
    ]


def _start_action(state: Any, hook: Any, wait_state: str) -> None:
    now = STATE.clock.now()
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
        state.launched_at = STATE.clock.now()
        STATE.launched_at[state.instance.id] = state.launched_at
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
    now = STATE.clock.now()
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
    action["deadline"] = STATE.clock.now() + action["heartbeat_timeout"]
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
    return next((r for r in STATE.refreshes.get(group_name, []) if r["Status"] in ACTIVE_REFRESH), None)


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
        "RollbackStartTime": _iso(STATE.clock.now()),
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
    refresh["EndTime"] = _iso(STATE.clock.now())
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
        refresh["StartTime"] = _iso(STATE.clock.now())
        return
    if refresh["Status"] == "Cancelling":
        refresh["_surge"] = 0
        refresh["Status"] = "Cancelled"
        refresh["EndTime"] = _iso(STATE.clock.now())
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
            refresh["EndTime"] = _iso(STATE.clock.now())
            _settle(group)
            return
        if refresh["_paused_until"] is not None:
            if STATE.clock.now() < refresh["_paused_until"]:
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
            refresh["_paused_until"] = STATE.clock.now() + refresh["_delay"]
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
    refreshes = STATE.refreshes.setdefault(name, [])
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
    refreshes = STATE.refreshes.get(group.name, [])
    for refresh in refreshes:
        if refresh["Status"] in ACTIVE_REFRESH:
            _advance_refresh(group, refresh)
    shown = [_public_refresh(r) for r in refreshes if not wanted or r["InstanceRefreshId"] in wanted]
    return ActionResult({"InstanceRefreshes": shown})


def cancel_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    # "Cancels an instance refresh or rollback that is in progress."
    name = self._get_param("AutoScalingGroupName")
    for refresh in STATE.refreshes.get(name, []):
        if refresh["Status"] in ("Pending", "InProgress", "RollbackInProgress"):
            refresh["Status"] = "Cancelling"
            return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})
    raise ActiveInstanceRefreshNotFound("No in progress or pending Instance Refresh found for Auto Scaling group " + name)


def rollback_instance_refresh(self: AutoScalingResponse) -> ActionResult:
    """RollbackInstanceRefresh (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RollbackInstanceRefresh.html):
    cancels the running refresh and replaces the instances it launched with the group's own
    configuration, which a refresh changes only once it succeeds."""
    group = _group_or_error(self)
    refresh = next((r for r in STATE.refreshes.get(group.name, []) if r["Status"] in ROLLBACK_FROM), None)
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
    ready_at = STATE.clock.now() + _deregistration_delay(group)
    for state in group.instance_states:
        if state.instance.id in instance_ids:
            state.lifecycle_state = "EnteringStandby"
            state.halfhour_standby_at = ready_at
    _sync_target_groups(group)
    _settle_standby(self)
    return activities


def _settle_standby(backend: Any) -> None:
    """EnteringStandby becomes Standby once the target groups' deregistration delay has passed."""
    now = STATE.clock.now()
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


# --------------------------------------------------------------------------- lifecycle actions
# What EventBridge would deliver for each instance waiting on a hook (GET /_halfhour/lifecycle-actions).

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


# --------------------------------------------------------------------------- group membership

def _group_member(instance_id: str) -> tuple[Any, Any] | tuple[None, None]:
    """The group an instance is a member of, and its state there."""
    for account in asg_models.autoscaling_backends.values():
        for backend in account.values():
            for group in backend.autoscaling_groups.values():
                for state in group.instance_states:
                    if state.instance.id == instance_id:
                        return group, state
    return None, None

"""Systems Manager: Run Command reaches managed nodes only, and a health probe's outcome is the
one a test set (``POST /_halfhour/instance-probe``)."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ssm import models as ssm_models
from moto.ssm.exceptions import SSMException
from moto.ssm.responses import SimpleSystemManagerResponse

from .autoscaling import _group_member
from .state import STATE


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
    STATE.ssm_registration_seconds here), and a valid state (not shutting-down or terminated)
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/troubleshooting-managed-nodes.html)."""
    try:
        instance = ec2_backend.get_instance(instance_id)
    except Exception:  # moto raises its own not-found error; to SSM the node is just unknown
        return False
    if instance.state in ("shutting-down", "terminated") or not getattr(instance, "iam_instance_profile", None):
        return False
    return STATE.clock.now() >= STATE.launched_at.get(instance_id, 0.0) + STATE.ssm_registration_seconds


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
    outcome = (STATE.probes.get(instance_id) or STATE.probes.get(f"image:{_image_of(self, instance_id)}")
               or STATE.probes.get(f"group:{_group_of(instance_id)}") or STATE.probes.get("*"))
    if outcome == "running":
        response.update(Status="InProgress", StatusDetails="InProgress", ResponseCode=-1)
    elif outcome == "failing":
        response.update(Status="Failed", StatusDetails="Failed", ResponseCode=22, StandardOutputContent="",
                        StandardErrorContent="curl: (22) The requested URL returned error: 503")
    else:
        response.update(Status="Success", StatusDetails="Success", ResponseCode=0, StandardOutputContent="ok")
    return ActionResult(response)

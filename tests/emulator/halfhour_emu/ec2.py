"""EC2 as AWS documents it where moto 5.2 falls short: images (CreateImage, DeregisterImage,
DeleteSnapshot, DescribeImages), reboots, and launch template versions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidSnapshotInUse
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse

from .autoscaling import _group_member
from .iam import may, snapshot_deletion
from .state import STATE

# How long a new image stays `pending` (AWS takes minutes); tests advance the clock or set it.
IMAGE_SETTLE_SECONDS = 30.0


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
    ami.creation_date = datetime.fromtimestamp(STATE.clock.now(), tz=timezone.utc)
    STATE.pending_images[ami.id] = STATE.clock.now() + IMAGE_SETTLE_SECONDS
    return ActionResult({"ImageId": ami.id})


# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html: with
# DeleteAssociatedSnapshots, deregistration deletes the AMI's snapshots (those of other AMIs
# too are kept: "skipped") and reports each in DeleteSnapshotResults. Without it, the snapshot
# stays; "You cannot delete a snapshot of the root device of an EBS volume used by a
# registered AMI" (API_DeleteSnapshot.html), and a DeleteSnapshot right after the
# deregistration still answers InvalidSnapshot.InUse while EC2 finishes it (the docs give no
# figure; SNAPSHOT_RELEASE_SECONDS of the emulator clock).
SNAPSHOT_RELEASE_SECONDS = 10.0
# STATE.released_at: snapshot id -> when its deregistered AMI lets go of it.


def deregister_image(self: AmisResponse) -> ActionResult:
    ami_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = self.ec2_backend.amis.get(ami_id)
    snapshot = getattr(ami, "ebs_snapshot", None)
    self.ec2_backend.deregister_image(ami_id)
    if snapshot is None:
        return ActionResult({"Return": True})
    if not _flag(self, "DeleteAssociatedSnapshots"):
        STATE.released_at[snapshot.id] = STATE.clock.now() + SNAPSHOT_RELEASE_SECONDS
        return ActionResult({"Return": True})
    shared = any(getattr(other, "ebs_snapshot", None) is snapshot for other in self.ec2_backend.amis.values())
    if not shared and not may(self.headers, snapshot_deletion(snapshot.id)):
        # Each snapshot is deleted under the caller's own ec2:DeleteSnapshot: "missing-permissions -
        # The snapshot was not deleted because the role lacks DeleteSnapshot permissions"
        # (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSnapshotReturnCode.html).
        return ActionResult({"Return": True, "DeleteSnapshotResults": [
            {"SnapshotId": snapshot.id, "ReturnCode": "missing-permissions"}]})
    if not shared:
        self.ec2_backend.snapshots.pop(snapshot.id, None)
    return ActionResult({"Return": True, "DeleteSnapshotResults": [
        {"SnapshotId": snapshot.id, "ReturnCode": "skipped" if shared else "success"}]})


_original_delete_snapshot = EBSBackend.delete_snapshot


def _delete_snapshot(self: Any, snapshot_id: str) -> Any:
    if STATE.clock.now() < STATE.released_at.get(snapshot_id, 0.0):
        raise InvalidSnapshotInUse(snapshot_id, "an AMI being deregistered")
    return _original_delete_snapshot(self, snapshot_id)


def _settle_images(backend: Any) -> None:
    """A pending image becomes available once its settle time has passed on the emulator clock."""
    now = STATE.clock.now()
    for image_id, ready_at in list(STATE.pending_images.items()):
        if now >= ready_at:
            ami = backend.amis.get(image_id)
            if ami is not None and ami.state == "pending":
                ami.state = "available"
            STATE.pending_images.pop(image_id, None)


_original_describe_images = AmisResponse.describe_images


def describe_images(self: AmisResponse) -> ActionResult:
    _settle_images(self.ec2_backend)
    return _original_describe_images(self)


def _set_image_state(image_id: str, state: str) -> None:
    if state not in ("available", "failed"):
        raise ValueError("state must be available or failed")
    from moto.ec2.models import ec2_backends

    for account in ec2_backends.values():
        for backend in account.values():
            ami = backend.amis.get(image_id)
            if ami is not None:
                ami.state = state
                STATE.pending_images.pop(image_id, None)
                return
    raise KeyError(f"no image {image_id}")


def _record_reboot(instance_id: str) -> None:
    STATE.reboots[instance_id] = STATE.reboots.get(instance_id, 0) + 1
    _, state = _group_member(instance_id)
    STATE.reboot_log.append({"instance_id": instance_id, "lifecycle_state": state and state.lifecycle_state,
                       "time": STATE.clock.now()})


def reboot_instances(self: InstanceResponse) -> ActionResult:
    if not _flag(self, "DryRun"):
        for instance_id in self._get_multi_param("InstanceId"):
            _record_reboot(instance_id)
    return _original_reboot(self)


# --------------------------------------------------------------------------- launch templates

# AWS: a ClientToken makes CreateLaunchTemplateVersion idempotent (the same token answers the
# version it created), and SourceVersion's data is the base the new data overrides. moto 5.2
# ignores both.
# STATE.launch_template_tokens: (template id, ClientToken) -> the version it created.


def create_launch_template_version(self: Any) -> ActionResult:
    import copy

    name, template_id = self._get_param("LaunchTemplateName"), self._get_param("LaunchTemplateId")
    template = (self.ec2_backend.get_launch_template(template_id) if template_id
                else self.ec2_backend.get_launch_template_by_name(name))
    token = self._get_param("ClientToken")
    self.error_on_dryrun()
    if token and (template.id, token) in STATE.launch_template_tokens:
        version = template.get_version(STATE.launch_template_tokens[(template.id, token)])
    else:
        data = self._get_param("LaunchTemplateData", {})
        source = self._get_param("SourceVersion")
        if source:
            data = {**copy.deepcopy(template.get_version(source).data), **data}
        version = template.create_version(data, self._get_param("VersionDescription"))
        if token:
            STATE.launch_template_tokens[(template.id, token)] = version.number
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

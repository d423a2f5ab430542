"""The emulator's own state: what it keeps beside moto's backends, in one object (``STATE``)
that every module reaches; the control endpoints read and set it."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import Faults

# How long after launch an instance with an instance profile becomes a managed node (its SSM
# Agent registers with Systems Manager). AWS documents no figure; `--ssm-registration-seconds`.
SSM_REGISTRATION_SECONDS = 10.0


class Clock:
    """Wall clock plus an offset that tests advance instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


class State:
    """Everything the emulator remembers that moto does not."""

    def __init__(self) -> None:
        self.clock = Clock()
        # Serialises every request (AWS's conditional writes are atomic) and every control call.
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []  # every request served, in order (requestlog.py)
        self.reboots: dict[str, int] = {}
        # Each reboot: the instance and its Auto Scaling lifecycle state at that moment (a reboot while
        # EnteringStandby is a reboot while the load balancer still drains the instance).
        self.reboot_log: list[dict[str, Any]] = []
        self.cfn_responses: list[dict[str, Any]] = []  # what functions PUT to a custom resource's ResponseURL
        # instance id, "group:<name>" for a group's instances, "image:<id>" for an image's, or "*"
        # for every other -> "healthy" | "failing" | "running" (the command has not finished)
        self.probes: dict[str, str] = {}
        self.ssm_registration_seconds = SSM_REGISTRATION_SECONDS
        self.launched_at: dict[str, float] = {}  # instance id -> when its group launched it
        self.health_status: dict[str, bool] = {}  # Route53 health check id -> healthy? (a test's override)
        # What a web endpoint answers, as Route53's checkers and the site's visitors see it:
        # (host, port, path) -> {"status": int, "body": str, "headers": {...}}. Unmodelled: healthy.
        self.endpoints: dict[tuple[str, int, str], dict[str, Any]] = {}
        self.refreshes: dict[str, list[dict[str, Any]]] = {}  # group name -> refreshes, newest first
        self.pending_images: dict[str, float] = {}  # image id -> when it becomes available
        self.released_at: dict[str, float] = {}  # snapshot id -> when its deregistered AMI lets go of it
        # Cluster -> each function's binary -> the statements of the role its stack gives it (iam.py).
        self.stacks: dict[str, dict[str, list[dict[str, Any]]]] = {}
        # Caller (SDK app name) -> the role's statements its requests are evaluated against (iam.py).
        self.roles: dict[str, list[dict[str, Any]]] = {}
        self.distributions: dict[str, dict[str, Any]] = {}  # domain name -> {"id", "arn", "bucket", ...}
        self.functions: set[str] = set()  # functions whose async Invoke is queued (lambda_.py)
        self.launch_template_tokens: dict[tuple[str, str], int] = {}  # (template id, ClientToken) -> version
        self.faults: dict[str, Faults] = {}  # caller (SDK app name) -> its seeded faults
        self.test = ""  # the test whose process this emulator serves (a zygote's fork), for the log


STATE = State()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")

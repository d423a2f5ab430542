"""The Python side of the emulator's ``/_halfhour/`` endpoints (control.py's route table), for
the demo, the bench and the seeding command line. urllib only: importing it needs no moto."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class EmulatorClient:
    """One running emulator's control endpoints. A refused call raises urllib's HTTPError."""

    def __init__(self, endpoint: str, timeout: float = 30) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def url(self, route: str) -> str:
        return f"{self.endpoint}/_halfhour/{route}"

    def call(self, method: str, route: str, payload: dict[str, Any] | None = None,
             query: dict[str, Any] | None = None) -> Any:
        """Any control endpoint: its JSON answer."""
        url = self.url(route) + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read() or b"null")

    # -- what happened

    def requests(self, since: int = 0, app: str | None = None) -> list[dict[str, Any]]:
        """The request log from entry `since` on (only `app`'s requests, if named)."""
        query: dict[str, Any] = {"since": since} if since else {}
        if app is not None:
            query["app"] = app
        return self.call("GET", "requests", query=query)

    def reboots(self) -> dict[str, int]:
        return self.call("GET", "reboots")

    def reboot_log(self) -> list[dict[str, Any]]:
        return self.call("GET", "reboot-log")

    def lifecycle_actions(self) -> list[dict[str, Any]]:
        """What EventBridge would deliver for each instance waiting on a lifecycle hook."""
        return self.call("GET", "lifecycle-actions")

    def cfn_response_url(self, key: str) -> str:
        """A stand-in for a custom resource's pre-signed ResponseURL; see cfn_responses."""
        return self.url(f"cfn-response/{key}")

    def cfn_responses(self, key: str | None = None) -> list[dict[str, Any]]:
        """What functions PUT to cfn_response_url (the bodies only, when `key` is named)."""
        replies = self.call("GET", "cfn-responses")
        return replies if key is None else [r["body"] for r in replies if r["key"] == key]

    def resolve(self, zone: str, name: str, kind: str = "A") -> dict[str, Any]:
        """Route53's answer for `name` in `zone` with failover routing."""
        query = {"zone": zone, "name": name} if kind == "A" else {"zone": zone, "name": name, "type": kind}
        return self.call("GET", "resolve", query=query)

    def visit(self, host: str, path: str = "/") -> tuple[int, dict[str, str], str]:
        """What a visitor's browser gets from host + path: status, headers, body."""
        try:
            with urllib.request.urlopen(self.url(f"site/{host}{path}"), timeout=self.timeout) as response:
                return response.status, dict(response.headers), response.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode(errors="replace")

    def clock(self) -> dict[str, float]:
        return self.call("GET", "clock")

    def fault_counts(self) -> dict[str, dict[str, int]]:
        return self.call("GET", "faults")

    # -- what the world does next

    def seed(self, cluster: str, **shape: Any) -> dict[str, Any]:
        """Seed a cluster of the template's shape (seed.py's Shape: capacity, observe, cloudfront,
        group_version, ...): its `env` (the functions' environment) and its other ids."""
        return self.call("POST", "seed", {"cluster": cluster, **shape})

    def advance_clock(self, seconds: float) -> dict[str, float]:
        return self.call("POST", "clock", {"advance_seconds": seconds})

    def declare_function(self, name: str) -> None:
        """An async Invoke of `name` is then queued (202) and logged."""
        self.call("POST", "functions", {"name": name})

    def health_check_status(self, health_check_id: str, healthy: bool) -> None:
        self.call("POST", "health-check-status", {"health_check_id": health_check_id, "healthy": healthy})

    def endpoint_answers(self, host: str, status: int, body: str = "", port: int = 443, path: str = "/",
                         headers: dict[str, str] | None = None) -> None:
        """What the web endpoint host:port/path answers from now on (health checks and visitors)."""
        self.call("POST", "endpoint", {"host": host, "port": port, "path": path, "status": status, "body": body,
                                       "headers": headers or {}})

    def instance_probe(self, outcome: str, *, instance_id: str | None = None, group: str | None = None,
                       image: str | None = None) -> None:
        """The health probe's outcome (healthy, failing, running) for an instance, group or image."""
        target = {"group": group} if group else {"image": image} if image else {"instance_id": instance_id}
        self.call("POST", "instance-probe", {"outcome": outcome, **target})

    def image_state(self, image_id: str, state: str) -> None:
        self.call("POST", "image-state", {"image_id": image_id, "state": state})

    def bind_role(self, app: str, function: str, cluster: str, without: list[str] | None = None) -> list[dict[str, Any]]:
        """From now on `app`'s requests are evaluated against the role `cluster`'s stack gives
        `function` (less the actions in `without`): the statements it is held to."""
        payload = {"app": app, "function": function, "cluster": cluster, "without": without or []}
        return self.call("POST", "role", payload)["statements"]

    def static_distribution(self, bucket: str, alias: str, **options: Any) -> dict[str, Any]:
        """A CloudFront distribution in front of `bucket`, as the template's CloudFront mode makes it."""
        return self.call("POST", "static-distribution", {"bucket": bucket, "alias": alias, **options})

    def faults(self, app: str, **spec: Any) -> None:
        """Seeded faults for `app`'s requests (rate, seed, kinds, or crash_after); none clears them."""
        self.call("POST", "faults", {"app": app, **spec})

    def health(self) -> bool:
        return bool(self.call("GET", "health").get("ok"))

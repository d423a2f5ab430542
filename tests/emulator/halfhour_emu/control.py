"""The test endpoints under ``/_halfhour/``: a route table of (method, route pattern) -> handler,
each answering JSON. The request log, faults, reboot counts, Route53 health-check status (an
override), what an endpoint answers, health-probe outcomes per instance, image or group
(answered through SSM Run Command), the clock tests advance so lifecycle timeouts happen without
waiting, and failover resolution. ``client.py`` is the Python side of the same table."""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from .autoscaling import _lifecycle_actions
from .ec2 import _set_image_state
from .faults import Faults
from .iam import bind
from .route53 import _resolve
from .seed import Shape, clients, create_state_table, seed
from .state import STATE
from .visitors import _static_distribution


@dataclass
class ControlRequest:
    """One control call: its JSON body, its query string, and the route pattern's named groups."""

    payload: dict[str, Any]
    query: dict[str, list[str]]
    params: dict[str, str]
    # The emulator's own address, as the caller reached it.
    endpoint: str


def requests(request: ControlRequest) -> Any:
    since = int(request.query.get("since", ["0"])[0])
    app = request.query.get("app", [None])[0]
    return [e for e in STATE.log[since:] if app is None or e["app"] == app]


def set_faults(request: ControlRequest) -> Any:
    # {"app": ..., "rate": 0.1, "seed": 7, "kinds": [...]} or {"app": ..., "crash_after": N};
    # {"app": ...} alone clears that caller's faults.
    payload = request.payload
    app = str(payload["app"])
    spec = {k: v for k, v in payload.items() if k != "app"}
    if spec:
        STATE.faults[app] = Faults(spec)
    else:
        STATE.faults.pop(app, None)
    return {"ok": True}


def fault_counts(request: ControlRequest) -> Any:
    return {app: f.counts for app, f in STATE.faults.items()}


def reboots(request: ControlRequest) -> Any:
    return STATE.reboots


def reboot_log(request: ControlRequest) -> Any:
    return STATE.reboot_log


def bind_role(request: ControlRequest) -> Any:
    # {"app", "function", "cluster", "without": [actions]}: from now on `app`'s requests are
    # evaluated against the role the cluster's stack gives that function, less `without`.
    payload = request.payload
    return {"statements": bind(str(payload["app"]), str(payload["function"]), str(payload["cluster"]),
                               [str(a) for a in payload.get("without", [])])}


def cfn_response(request: ControlRequest) -> Any:
    # A CloudFormation custom resource's pre-signed ResponseURL, as the test's stand-in.
    STATE.cfn_responses.append({"key": request.params["key"], "body": request.payload})
    return {"ok": True}


def cfn_responses(request: ControlRequest) -> Any:
    return STATE.cfn_responses


def endpoint(request: ControlRequest) -> Any:
    # {"host", "port", "path", "status", "body", "headers"}: what that endpoint answers now.
    payload = request.payload
    key = (str(payload["host"]), int(payload.get("port", 443)), str(payload.get("path", "/")))
    STATE.endpoints[key] = {"status": int(payload["status"]), "body": str(payload.get("body", "")),
                            "headers": dict(payload.get("headers", {}))}
    return {"ok": True}


def static_distribution(request: ControlRequest) -> Any:
    return _static_distribution(request.payload)


def health_check_status(request: ControlRequest) -> Any:
    STATE.health_status[str(request.payload["health_check_id"])] = bool(request.payload["healthy"])
    return {"ok": True}


def instance_probe(request: ControlRequest) -> Any:
    payload = request.payload
    outcome = str(payload["outcome"])
    if outcome not in ("healthy", "failing", "running"):
        raise ValueError("outcome must be healthy, failing or running")
    if "group" in payload:
        key = f"group:{payload['group']}"
    elif "image" in payload:
        key = f"image:{payload['image']}"
    else:
        key = str(payload["instance_id"])
    STATE.probes[key] = outcome
    return {"ok": True}


def advance_clock(request: ControlRequest) -> Any:
    STATE.clock.offset += float(request.payload.get("advance_seconds", 0))
    return {"now": STATE.clock.now(), "offset": STATE.clock.offset}


def clock(request: ControlRequest) -> Any:
    return {"now": STATE.clock.now(), "offset": STATE.clock.offset}


def declare_function(request: ControlRequest) -> Any:
    STATE.functions.add(str(request.payload["name"]))
    return {"ok": True}


def resolve(request: ControlRequest) -> Any:
    query = request.query
    return _resolve(query["zone"][0], query["name"][0], query.get("type", ["A"])[0])


def lifecycle_actions(request: ControlRequest) -> Any:
    # What EventBridge would deliver for each waiting instance (token included).
    return _lifecycle_actions()


def image_state(request: ControlRequest) -> Any:
    _set_image_state(str(request.payload["image_id"]), str(request.payload["state"]))
    return {"ok": True}


def seed_cluster(request: ControlRequest) -> Any:
    # Seeding calls the emulator's own AWS endpoints, so it runs outside the state lock; a call
    # the emulator refuses is a bad seed request, with AWS's error.
    from botocore.exceptions import ClientError

    shape = Shape.from_request(request.payload)
    try:
        return seed(request.endpoint, shape)
    except ClientError as err:
        raise ValueError(f"seeding {shape.cluster} failed: {err}") from err


def seed_table(request: ControlRequest) -> Any:
    # A bare state table, for tests of the store alone.
    create_state_table(clients(request.endpoint)["dynamodb"], str(request.payload["table"]))
    return {"ok": True}


def health(request: ControlRequest) -> Any:
    return {"ok": True}


# (method, route after /_halfhour/ matched whole, handler); each runs holding the state lock but
# those in UNLOCKED. GET /_halfhour/site/<host>/<path> answers raw, not JSON: the app serves it
# before this table (visitors.py).
ROUTES: list[tuple[str, re.Pattern[str], Callable[[ControlRequest], Any]]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in [
        ("GET", r"requests", requests),
        ("POST", r"faults", set_faults),
        ("GET", r"faults", fault_counts),
        ("GET", r"reboots", reboots),
        ("GET", r"reboot-log", reboot_log),
        ("POST", r"role", bind_role),
        ("PUT", r"cfn-response/(?P<key>.*)", cfn_response),
        ("GET", r"cfn-responses", cfn_responses),
        ("POST", r"endpoint", endpoint),
        ("POST", r"static-distribution", static_distribution),
        ("POST", r"health-check-status", health_check_status),
        ("POST", r"instance-probe", instance_probe),
        ("POST", r"clock", advance_clock),
        ("GET", r"clock", clock),
        ("POST", r"functions", declare_function),
        ("GET", r"resolve", resolve),
        ("GET", r"lifecycle-actions", lifecycle_actions),
        ("POST", r"image-state", image_state),
        ("POST", r"seed", seed_cluster),
        ("POST", r"seed-table", seed_table),
        ("GET", r"health", health),
    ]
]
UNLOCKED = {seed_cluster, seed_table}


def answer(method: str, route: str, payload: dict[str, Any], environ: dict[str, Any]) -> Any:
    for verb, pattern, handler in ROUTES:
        match = pattern.fullmatch(route)
        if verb == method and match:
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            endpoint = f"http://{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
            request = ControlRequest(payload, query, match.groupdict(), endpoint)
            if handler in UNLOCKED:
                return handler(request)
            with STATE.lock:
                return handler(request)
    raise KeyError(f"{method} /_halfhour/{route}")


def control(environ: dict[str, Any], start_response: Any, route: str) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        payload = json.loads(raw or b"{}")
        answered = answer(environ.get("REQUEST_METHOD", "GET"), route, payload, environ)
        status = "200 OK"
    except (KeyError, ValueError, TypeError) as err:
        answered, status = {"error": f"bad control request: {err}"}, "400 Bad Request"
    data = json.dumps(answered).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]

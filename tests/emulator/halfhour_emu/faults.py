"""Fault injection (``POST /_halfhour/faults``): throttling, 5xx, slow answers, dropped
connections and crashes, per caller, from a seeded generator (RELIABILITY.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any


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
    reason = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
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

"""The request log: each request's caller (the SDK's app name), service, action and whether it
mutates, as ``GET /_halfhour/requests`` answers it (and HALFHOUR_REQUEST_LOG's file records it)."""

from __future__ import annotations

import json
import os
import urllib.parse
from typing import Any


READ_PREFIXES = ("Describe", "Get", "List", "Head", "Query", "Scan", "BatchGet")


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


def _append_to_shared_log(entry: dict[str, Any]) -> None:
    """With HALFHOUR_REQUEST_LOG set, every request's caller and action also go to that JSON-lines
    file, shared by all emulators of a test run, with the test each served: the IAM proof and the
    mutation run read it (scripts/iam_proof.py, scripts/iam_mutations.py)."""
    path = os.environ.get("HALFHOUR_REQUEST_LOG")
    if path:
        from .state import STATE

        line = json.dumps({**{k: entry[k] for k in ("app", "service", "action", "status")}, "test": STATE.test,
                           **({"denied": entry["denied"]} if "denied" in entry else {})})
        with open(path, "a", encoding="utf-8") as log:  # one short append per line: atomic
            log.write(line + "\n")

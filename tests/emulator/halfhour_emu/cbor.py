"""Smithy RPC v2 CBOR (the AWS SDK for Rust's CloudWatch protocol) translated to and from moto's
query protocol."""

from __future__ import annotations

import urllib.parse
from datetime import timezone
from typing import Any

from .requestlog import _service_of


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

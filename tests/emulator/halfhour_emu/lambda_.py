"""Lambda: an asynchronous Invoke of a declared function is queued (202), as Lambda does."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from moto.awslambda.responses import LambdaResponse

from .state import STATE


# --------------------------------------------------------------------------- Lambda async invoke

# Functions the tests declare: an async Invoke of one of them is accepted (202) and logged, the
# way Lambda queues it; moto would try to run it in Docker.
# The functions: STATE.functions.

_original_lambda_invoke = LambdaResponse.invoke


def lambda_invoke(self: LambdaResponse) -> Any:
    if self.headers.get("X-Amz-Invocation-Type") != "Event":
        return _original_lambda_invoke(self)
    name = urllib.parse.unquote(self.path.rsplit("/", 2)[-2]).split(":")[-1]
    if name not in STATE.functions:
        body = json.dumps({"Type": "User", "Message": f"Function not found: {name}"})
        return 404, {"status": "404", "x-amzn-errortype": "ResourceNotFoundException", "content-type": "application/json"}, body
    return 202, {"status": "202", "content-type": "application/json"}, ""

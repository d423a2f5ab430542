"""SNS: a structured (MessageStructure=json) message is checked at Publish."""

from __future__ import annotations

import json
from typing import Any

from moto.sns import exceptions as sns_exceptions
from moto.sns import models as sns_models


# --------------------------------------------------------------------------- SNS structured messages

_sns_publish = sns_models.SNSBackend.publish


def _publish(self: Any, message: str, arn: str | None = None, phone_number: str | None = None,
             subject: str | None = None, message_attributes: Any = None, group_id: str | None = None,
             deduplication_id: str | None = None, message_structure: str | None = None) -> str:
    # AWS checks a structured message at Publish, subscribers or not (moto only when it delivers):
    # "If you set MessageStructure to json, the value of the Message parameter must: be a
    # syntactically valid JSON object; and contain at least a top-level JSON key of "default"
    # with a value that is a string" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
    if message_structure == "json":
        try:
            body = json.loads(message)
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise sns_exceptions.InvalidParameterValue(
                "Invalid parameter: Message Structure - JSON message body failed to parse")
        if not isinstance(body.get("default"), str):
            raise sns_exceptions.InvalidParameterValue(
                "Invalid parameter: Message Structure - No default entry in JSON message body")
    return _sns_publish(self, message, arn=arn, phone_number=phone_number, subject=subject,
                        message_attributes=message_attributes, group_id=group_id,
                        deduplication_id=deduplication_id, message_structure=message_structure)

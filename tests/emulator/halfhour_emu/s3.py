"""S3: GetObject of a missing key without s3:ListBucket."""

from __future__ import annotations

from typing import Any

from moto.s3.exceptions import MissingKey, S3AccessDeniedError
from moto.s3.responses import S3Response

from .state import STATE


# --------------------------------------------------------------------------- S3 without s3:ListBucket
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html: "If you don't have the
# s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Access Denied" for a key
# that does not exist. The emulator has no IAM: a test names the buckets whose readers lack it.
# The buckets: STATE.without_list_bucket.

_original_get_object = S3Response.get_object


def get_object(self: S3Response) -> Any:
    try:
        return _original_get_object(self)
    except MissingKey:
        if self.bucket_name in STATE.without_list_bucket:
            raise S3AccessDeniedError()
        raise

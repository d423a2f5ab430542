"""What visitors get (``GET /_halfhour/site/<host>/<path>``): a modelled endpoint, a CloudFront
distribution, an S3 website endpoint, or a name resolved through Route53."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .route53 import _resolve
from .state import STATE


# --------------------------------------------------------------------------- what visitors get

# The static site behind CloudFront, as far as halfhour uses it: a distribution whose origin is
# the bucket through origin access control, with custom error responses and a response headers
# policy. Created through POST /_halfhour/static-distribution (registered in moto's CloudFront
# too, so DescribeDistribution answers); moto keeps neither the origin's OAC nor the headers.
# STATE.distributions: domain name -> {"id", "arn", "bucket", ...}.


def _s3_bucket(name: str) -> Any:
    from moto.s3.models import s3_backends

    for account in s3_backends.values():
        bucket = account["global"].buckets.get(name)
        if bucket is not None:
            return bucket
    return None


def _statements(bucket: Any) -> list[dict[str, Any]]:
    policy = json.loads(bucket.policy.decode()) if bucket.policy else {}
    return policy.get("Statement", [])


def _grants_get(statement: dict[str, Any], bucket: str) -> bool:
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = statement.get("Resource", [])
    resources = [resources] if isinstance(resources, str) else resources
    return (statement.get("Effect") == "Allow" and "s3:GetObject" in actions
            and any(r.endswith(f":::{bucket}/*") for r in resources))


def _object(bucket: Any, key: str) -> bytes | None:
    found = bucket.keys.get(key) if key else None
    return found.value if found is not None else None


def _website(name: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """An S3 website endpoint: the index document for a folder, the error document (status 404)
    for a missing key, and 403 unless the bucket policy lets everyone read its objects
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/WebsiteAccessPermissionsReqd.html,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/IndexDocumentSupport.html)."""
    bucket = _s3_bucket(name)
    if bucket is None:
        return 404, {}, b"<h1>404 Not Found</h1><p>Code: NoSuchBucket</p>"
    if not bucket.website_configuration:
        return 404, {}, b"<h1>404 Not Found</h1><p>Code: NoSuchWebsiteConfiguration</p>"
    config = bucket.website_configuration.decode()
    index = re.search(r"<Suffix>([^<]+)</Suffix>", config)
    error = re.search(r"<ErrorDocument>\s*<Key>([^<]+)</Key>", config)
    public = any(_grants_get(st, name) and st.get("Principal") in ("*", {"AWS": "*"}) for st in _statements(bucket))
    if not public:
        return 403, {}, b"<h1>403 Forbidden</h1><p>Code: AccessDenied</p>"
    key = path.lstrip("/")
    if key == "" or key.endswith("/"):
        key += index.group(1) if index else ""
    body = _object(bucket, key)
    if body is not None:
        return 200, {"Content-Type": "text/html"}, body
    page = _object(bucket, error.group(1)) if error else None
    return 404, {"Content-Type": "text/html"}, page if page is not None else b"<h1>404 Not Found</h1><p>Code: NoSuchKey</p>"


def _cloudfront(distribution: dict[str, Any], host: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """A distribution in front of a private bucket: its origin access control reads an object
    only where the bucket policy allows the cloudfront.amazonaws.com principal for this
    distribution's ARN (AWS:SourceArn), and a missing key is 403, not 404, without s3:ListBucket
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html);
    an error the distribution has a custom error response for answers that response's code with
    its page (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/GeneratingCustomErrorResponses.html);
    the response headers policy's custom headers go on every response; a Host that is neither
    the distribution's domain nor one of its alternate names is refused."""
    if host != distribution["domain_name"] and host not in distribution["aliases"]:
        return 403, {}, b"<h1>403 ERROR</h1><p>The request could not be satisfied. Bad request.</p>"
    bucket = _s3_bucket(distribution["bucket"])
    allowed = bucket is not None and any(
        _grants_get(st, distribution["bucket"])
        and st.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
        and st.get("Condition", {}).get("StringEquals", {}).get("AWS:SourceArn") == distribution["arn"]
        for st in _statements(bucket))

    def fetch(key: str) -> tuple[int, bytes]:
        body = _object(bucket, key) if allowed and key else None
        return (200, body) if body is not None else (403, b"<Error><Code>AccessDenied</Code></Error>")

    status, body = fetch(path.lstrip("/") or distribution["default_root_object"])
    if status != 200 and status in distribution["error_responses"]:
        code, page_path = distribution["error_responses"][status]
        page_status, page = fetch(page_path.lstrip("/"))
        if page_status == 200:
            status, body = code, page
    return status, {"Content-Type": "text/html", **distribution["headers"]}, body


def visit(host: str, path: str, depth: int = 0) -> tuple[int, dict[str, str], bytes]:
    """What a visitor's browser gets for host + path: a modelled endpoint (the load balancer), a
    distribution, an S3 website endpoint, or a name in a hosted zone resolved (failover
    routing, aliases followed; an alias to an S3 website endpoint serves the bucket named like
    the name, as S3 website hosting requires)."""
    host = host.lower().rstrip(".")
    for port in (443, 80):
        answer = STATE.endpoints.get((host, port, path))
        if answer is not None:
            return int(answer["status"]), dict(answer["headers"]), answer["body"].encode()
    if host in STATE.distributions:
        return _cloudfront(STATE.distributions[host], host, path)
    website = re.match(r"^(.+)\.s3-website[.-][a-z0-9-]+\.amazonaws\.com(\.cn)?$", host)
    if website:
        return _website(website.group(1), path)
    from moto.route53.models import route53_backends

    for account in route53_backends.values():
        for backend in account.values():
            for zone_id, zone in backend.zones.items():
                if depth > 4 or not (host + ".").endswith(zone.name.rstrip(".") + "."):
                    continue
                try:
                    target = _resolve(zone_id, host)["target"]
                except KeyError:
                    continue
                if isinstance(target, str):
                    target = target.lower().rstrip(".")
                    if re.match(r"^s3-website[.-]", target):
                        return _website(host, path)
                    if target in STATE.distributions:
                        return _cloudfront(STATE.distributions[target], host, path)
                    return visit(target, path, depth + 1)
    return 502, {}, f"no answer for {host}".encode()


def _static_distribution(payload: dict[str, Any]) -> dict[str, Any]:
    """Create what the template's CloudFront mode creates: an origin access control, a
    distribution (the bucket's REST endpoint as its origin, the record as alternate name, 403 and
    404 answered with the page) and the response headers it adds."""
    from moto.cloudfront.models import cloudfront_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    backend = cloudfront_backends[DEFAULT_ACCOUNT_ID]["global"]
    bucket, alias = str(payload["bucket"]), str(payload["alias"])
    page = "/" + str(payload.get("page_key", "maintenance.html"))
    control = backend.create_origin_access_control({
        "Name": f"{bucket}-oac", "SigningProtocol": "sigv4", "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3"})
    origin = {"Id": "bucket", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
              "S3OriginConfig": {"OriginAccessIdentity": ""}}
    errors = [{"ErrorCode": code, "ResponseCode": "503", "ResponsePagePath": page, "ErrorCachingMinTTL": "10"}
              for code in ("403", "404")]
    dist, _, _ = backend.create_distribution({
        "CallerReference": f"{bucket}-{uuid.uuid4()}", "Comment": "halfhour static site", "Enabled": True,
        "Aliases": {"Quantity": 1, "Items": [alias]},
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "bucket", "ViewerProtocolPolicy": "redirect-to-https"},
        "CustomErrorResponses": {"Quantity": 2, "Items": errors},
    }, [])
    STATE.distributions[dist.domain_name] = {
        "id": dist.distribution_id, "arn": dist.arn, "domain_name": dist.domain_name, "bucket": bucket,
        "aliases": [alias.lower()], "origin_access_control": control.id, "default_root_object": "",
        "error_responses": {int(e["ErrorCode"]): (int(e["ResponseCode"]), e["ResponsePagePath"]) for e in errors},
        "headers": {"Retry-After": str(payload.get("retry_after", 120))},
    }
    return {"id": dist.distribution_id, "arn": dist.arn, "domain_name": dist.domain_name,
            "origin_access_control": control.id}

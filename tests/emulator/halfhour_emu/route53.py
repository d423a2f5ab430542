"""Route53: health-check status (calculated checks, endpoint checks, a test's override), change
batches validated as a whole, and failover routing answered (``GET /_halfhour/resolve``)."""

from __future__ import annotations

import copy
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.route53 import exceptions as r53_exceptions
from moto.route53 import models as r53_models
from moto.route53.responses import Route53

from .state import STATE, _iso


# --------------------------------------------------------------------------- Route53 health status

class InvalidInput(ServiceException):
    code = "InvalidInput"


def _evaluate_health_check(backend: Any, health_check_id: str, depth: int = 0) -> bool:
    """Route53's verdict on a health check: a test-set status for endpoint checks (a new check
    starts healthy), the children counted against HealthThreshold for CALCULATED ones (0 is
    always healthy, more than the children always unhealthy), Disabled counts as healthy,
    Inverted flips the result."""
    check = backend.health_checks.get(health_check_id)
    if check is None or depth > 8:
        return False
    if check.disabled:
        return True
    if check.type_ == "CALCULATED":
        children = check.children or []
        healthy = sum(_evaluate_health_check(backend, child, depth + 1) for child in children)
        result = healthy >= int(check.health_threshold or 0)
    elif health_check_id in STATE.health_status:
        result = STATE.health_status[health_check_id]
    else:
        result = _endpoint_healthy(check)
    return not result if check.inverted else result


# Route53 counts a status of 200 or greater and less than 400 as healthy and, for the string
# matching types, searches the first 5,120 bytes of the body for SearchString (case counts); it
# follows no redirect. It sends FullyQualifiedDomainName as the Host header (and as SNI with
# EnableSNI): https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html
SEARCHED_BYTES = 5120


def _endpoint_healthy(check: Any) -> bool:
    answer = STATE.endpoints.get((check.fqdn or check.ip_address or "", int(check.port or 80), check.resource_path or "/"))
    if answer is None:
        return True  # a new health check starts healthy, and nothing says otherwise
    if not 200 <= int(answer["status"]) < 400:
        return False
    if check.type_ in ("HTTP_STR_MATCH", "HTTPS_STR_MATCH"):
        return (check.search_string or "").encode() in answer.get("body", "").encode()[:SEARCHED_BYTES]
    return True


def get_health_check_status(self: Route53) -> ActionResult:
    health_check_id = self._get_param("HealthCheckId")
    check = self.backend.get_health_check(health_check_id)
    if check.type_ == "CALCULATED":
        # AWS: GetHealthCheckStatus cannot report a calculated health check.
        raise InvalidInput("You can't use GetHealthCheckStatus to get the status of a calculated health check.")
    healthy = _evaluate_health_check(self.backend, health_check_id)
    status = "Success: HTTP Status Code: 200. OK" if healthy else "Failure: HTTP Status Code: 503. Service Unavailable"
    observations = [
        {"Region": region, "IPAddress": "127.0.13.37", "StatusReport": {"Status": status, "CheckedTime": _iso(STATE.clock.now())}}
        for region in ("us-east-1", "eu-west-1", "ap-southeast-1")
    ]
    return ActionResult({"HealthCheckObservations": observations})


_original_update_health_check = Route53.update_health_check


def update_health_check(self: Route53) -> ActionResult:
    """AWS keeps a check's children and regions when an update does not name them; moto 5.2
    resets them to none, which would empty a calculated gate on every threshold change."""
    check = self.backend.get_health_check(self._get_param("HealthCheckId"))
    children, regions = check.children, check.regions
    result = _original_update_health_check(self)
    if self._get_param("ChildHealthChecks") is None:
        check.children = children
    if self._get_param("Regions") is None:
        check.regions = regions
    return result


class _BatchRefused(r53_exceptions.Route53ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidChangeBatch", message)


def _record_key(record: dict[str, Any]) -> tuple[str, str, str | None]:
    return (record["Name"].rstrip(".").lower() + ".", record["Type"], record.get("SetIdentifier"))


def _record_values(record: dict[str, Any]) -> dict[str, Any]:
    """What a DELETE must repeat: every value the record was created with."""
    alias = record.get("AliasTarget")
    return {
        "failover": record.get("Failover"),
        "health_check": record.get("HealthCheckId"),
        "alias": alias and (alias.get("DNSName", "").rstrip(".").lower(), alias.get("HostedZoneId"),
                            str(alias.get("EvaluateTargetHealth", False)).lower()),
        "ttl": None if alias else str(record.get("TTL")),
        "records": None if alias else sorted(
            r["Value"] if isinstance(r, dict) else r for r in record.get("ResourceRecords", [])),
    }


def _as_record(rrset: Any) -> dict[str, Any]:
    return {"Name": rrset.name, "Type": rrset.type, "SetIdentifier": rrset.set_identifier,
            "Failover": rrset.failover, "HealthCheckId": rrset.health_check_id,
            "AliasTarget": rrset.alias_target, "TTL": rrset.ttl, "ResourceRecords": rrset.records}


_original_change_record_sets = r53_models.Route53Backend.change_resource_record_sets


def _change_record_sets(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    """Route53 validates a change batch as a whole against the zone as the changes before each one
    leave it, then "either makes all or none of the changes"
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html).
    moto applies change by change, accepts a CREATE of a record that exists with other values or a
    failover record beside a simple one of the same name and type, and deletes every record
    sharing a SetIdentifier: here each is refused with Route53's InvalidChangeBatch, and a DELETE
    must repeat the record's values ("you must specify all the same values that you specified when
    you created it", same page)."""
    zone = self.get_hosted_zone(zoneid)
    after = {_record_key(_as_record(r)): _as_record(r) for r in zone.rrsets}
    for change in change_list:
        record, action = change["ResourceRecordSet"], change["Action"]
        key = _record_key(record)
        shown = f"[name='{key[0]}', type='{key[1]}'" + (f", set-identifier='{key[2]}'" if key[2] else "") + "]"
        existing = after.get(key)
        if action == "DELETE":
            if existing is None:
                raise _BatchRefused(f"Tried to delete resource record set {shown} but it was not found")
            if _record_values(existing) != _record_values(record):
                raise _BatchRefused(f"Tried to delete resource record set {shown} but the values provided do not match the current values")
            del after[key]
            continue
        if action == "CREATE" and existing is not None:
            raise _BatchRefused(f"Tried to create resource record set {shown} but it already exists")
        mixed = [k for k in after if k[:2] == key[:2] and (k[2] is None) != (key[2] is None)]
        if mixed:
            raise _BatchRefused(f"RRSet with DNS name {key[0]}, type {key[1]} cannot be created as other RRSets exist with the same name and type.")
        after[key] = record
    # Valid as a whole: apply each change; a DELETE removes exactly the record it names.
    for change in change_list:
        if change["Action"] == "DELETE":
            key = _record_key(change["ResourceRecordSet"])
            zone.rrsets = [r for r in zone.rrsets if _record_key(_as_record(r)) != key]
            zone.rr_changes.append(copy.deepcopy(change))
        else:
            # moto also refuses a CREATE identical to one in its change journal, even after that
            # record was deleted (a redeploy after an uninstall); Route53 judges the zone as it is.
            journaled = copy.deepcopy(change)  # as moto journals it: the name without its dot
            journaled["ResourceRecordSet"]["Name"] = journaled["ResourceRecordSet"]["Name"].strip(".")
            zone.rr_changes[:] = [c for c in zone.rr_changes if c != journaled]
            _original_change_record_sets(self, zoneid, [change])


def _resolve(zone_id: str, name: str, kind: str = "A") -> dict[str, Any]:
    """Answer a query (A unless `kind` says AAAA) for `name` with Route53's failover routing: the PRIMARY record while
    its health check is healthy (or it has none), else the SECONDARY; a simple record (the site's
    own, before halfhour adopts it) answers `SIMPLE`."""
    from moto.route53.models import route53_backends

    wanted = name.rstrip(".") + "."
    for account in route53_backends.values():
        for backend in account.values():
            zone = backend.zones.get(zone_id)
            if zone is None:
                continue
            named = [r for r in zone.rrsets if r.name.rstrip(".") + "." == wanted and r.type == kind]
            records = {r.failover: r for r in named if r.failover}
            primary, secondary = records.get("PRIMARY"), records.get("SECONDARY")
            if primary is None and secondary is None:
                # Simple routing answers with the record itself, health or not:
                # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-simple.html
                simple = next((r for r in named if not r.set_identifier), None)
                if simple is None:
                    raise KeyError(f"no records for {name}")
                target = (simple.alias_target or {}).get("DNSName") or list(simple.records)
                return {"answer": "SIMPLE", "set_identifier": None, "target": target}
            primary_healthy = primary is not None and (
                not primary.health_check_id or _evaluate_health_check(backend, primary.health_check_id)
            )
            chosen = primary if primary_healthy or secondary is None else secondary
            target = (chosen.alias_target or {}).get("DNSName") or [r for r in chosen.records]
            return {"answer": chosen.failover, "set_identifier": chosen.set_identifier, "target": target}
    raise KeyError(f"no hosted zone {zone_id}")

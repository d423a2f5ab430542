"""The emulator as a process: ``install()`` patches moto with every module's behaviour, ``Emulator``
is the WSGI app (moto's server behind the request log, fault injection, the CBOR translation
and the ``/_halfhour/`` endpoints), ``main`` serves it."""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.responses import AutoScalingResponse
from moto.awslambda.responses import LambdaResponse
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.route53 import models as r53_models
from moto.route53.responses import Route53
from moto.sns import models as sns_models
from moto.ssm import models as ssm_models
from moto.ssm.responses import SimpleSystemManagerResponse
from werkzeug.serving import make_server

from . import __doc__ as PACKAGE_DOC
from .autoscaling import (
    _active_instances,
    _enter_standby,
    _instance_launch_template,
    _put_warm_pool,
    _replace_instances,
    _set_desired_capacity,
    _sync_target_groups,
    _with_expiry,
    cancel_instance_refresh,
    complete_lifecycle_action,
    describe_instance_refreshes,
    describe_warm_pool,
    record_lifecycle_action_heartbeat,
    rollback_instance_refresh,
    set_desired_capacity,
    start_instance_refresh,
    update_auto_scaling_group,
)
from .cbor import _cbor_request_as_query, _query_response_as_cbor, _rpc_v2_cbor_operation
from .control import control
from .ec2 import (
    _delete_snapshot,
    create_image,
    create_launch_template_version,
    deregister_image,
    describe_images,
    reboot_instances,
)
from .faults import THROTTLE_CODES, _drop, _error_response
from .iam import authorise, denied_code, may_list_bucket, reference
from .lambda_ import lambda_invoke
from .requestlog import _append_to_shared_log, _describe_request
from .route53 import _change_record_sets, get_health_check_status, update_health_check
from .seed import warm as warm_seed_clients
from .sns import _publish
from .ssm import _instance_ids_from_targets, get_command_invocation, send_command
from .stack import load
from .state import SSM_REGISTRATION_SECONDS, STATE
from .visitors import visit


def install() -> None:
    """Patch moto in place; idempotent."""
    if getattr(install, "done", False):
        return
    asg_models.FakeAutoScalingGroup.set_desired_capacity = _set_desired_capacity
    asg_models.FakeAutoScalingGroup.replace_autoscaling_group_instances = _replace_instances
    asg_models.FakeAutoScalingGroup.active_instances = _active_instances
    asg_models.AutoScalingBackend.update_attached_target_groups = lambda self, name: _sync_target_groups(
        self.autoscaling_groups[name]
    )
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.rollback_instance_refresh = rollback_instance_refresh
    AutoScalingResponse.describe_warm_pool = describe_warm_pool
    asg_models.FakeAutoScalingGroup.put_warm_pool = _put_warm_pool
    AutoScalingResponse.update_auto_scaling_group = update_auto_scaling_group
    asg_models.AutoScalingBackend.enter_standby_instances = _enter_standby
    asg_models.InstanceState.launch_template = property(_instance_launch_template)
    AutoScalingResponse.set_desired_capacity = set_desired_capacity
    for name in ("describe_auto_scaling_instances", "describe_auto_scaling_groups"):
        setattr(AutoScalingResponse, name, _with_expiry(getattr(AutoScalingResponse, name)))
    AmisResponse.create_image = create_image
    LaunchTemplates.create_launch_template_version = create_launch_template_version
    AmisResponse.describe_images = describe_images
    AmisResponse.deregister_image = deregister_image
    EBSBackend.delete_snapshot = _delete_snapshot
    InstanceResponse.reboot_instances = reboot_instances
    SimpleSystemManagerResponse.get_command_invocation = get_command_invocation
    SimpleSystemManagerResponse.send_command = send_command
    ssm_models.Command._get_instance_ids_from_targets = _instance_ids_from_targets
    Route53.get_health_check_status = get_health_check_status
    Route53.update_health_check = update_health_check
    r53_models.Route53Backend.change_resource_record_sets = _change_record_sets
    LambdaResponse.invoke = lambda_invoke
    sns_models.SNSBackend.publish = _publish
    install.done = True  # type: ignore[attr-defined]


class Emulator:
    """WSGI app: serialises every request (AWS's conditional writes are atomic), logs it, and
    answers the ``/_halfhour/`` control endpoints."""

    def __init__(self) -> None:
        install()
        self.moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_halfhour/site/"):
            # GET /_halfhour/site/<host>/<path>: what a visitor's browser gets, raw.
            host, _, rest = path[len("/_halfhour/site/"):].partition("/")
            with STATE.lock:
                status, headers, body = visit(host, "/" + rest)
            reasons = {200: "OK", 301: "Moved Permanently", 403: "Forbidden", 404: "Not Found",
                       502: "Bad Gateway", 503: "Service Unavailable"}
            start_response(f"{status} {reasons.get(status, 'Status')}",
                           [*headers.items(), ("Content-Length", str(len(body)))])
            return [body]
        if path.startswith("/_halfhour/"):
            return control(environ, start_response, path[len("/_halfhour/"):])
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        operation = _rpc_v2_cbor_operation(environ)
        if operation is not None:
            environ, body = _cbor_request_as_query(environ, body, operation)
        environ["wsgi.input"] = io.BytesIO(body)
        entry = _describe_request(environ, body)
        with STATE.lock:
            faults = STATE.faults.get(entry["app"])
            fault = faults.choose(entry["mutating"]) if faults else None
            if faults and fault:
                faults.count(fault)
        if fault == "slow":
            time.sleep(0.2 + faults.random.random() * 0.8 if faults else 0.5)
        with STATE.lock:
            entry["seq"] = len(STATE.log)
            entry["time"] = STATE.clock.now()
            if fault:
                entry["fault"] = fault
            answered_by_fault = fault in ("throttle", "500", "503", "drop", "crashed")
            denied = None if answered_by_fault else _authorise(entry, body, operation)
            if answered_by_fault:
                entry["status"] = 0 if fault in ("drop", "crashed") else (503 if fault == "503" else 500 if fault == "500" else 400)
                STATE.log.append(entry)
                _append_to_shared_log(entry)
            elif denied is not None:
                status, headers, chunks = denied
                entry["status"] = int(status.split()[0])
                STATE.log.append(entry)
                _append_to_shared_log(entry)
            else:
                captured: list[Any] = []

                def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
                    captured[:] = [status, headers]
                    return lambda data: None

                chunks = list(self.moto(environ, capture))
                status, headers = captured if captured else ("500 Internal Server Error", [])
                if operation is not None:
                    status, headers, chunks = _query_response_as_cbor(status, b"".join(chunks), operation)
                if status.startswith("404") and entry["action"] in ("GetObject", "HeadObject") and not may_list_bucket(entry):
                    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html: "If you
                    # don't have the s3:ListBucket permission, Amazon S3 returns an HTTP status code
                    # 403 Access Denied" for a key that does not exist.
                    status, headers, chunks = _denied_response(entry, operation, "Access Denied")
                entry["status"] = int(status.split()[0])
                STATE.log.append(entry)
                _append_to_shared_log(entry)
        if fault in ("drop", "drop_after", "crashed"):
            _drop(environ)
        if fault in ("throttle", "500", "503"):
            service = entry["service"]
            if fault == "throttle":
                code = THROTTLE_CODES.get(service, "Throttling")
                status_code = {"ec2": 503, "s3": 503, "lambda": 429, "monitoring": 503}.get(service, 400)
                status, headers, data = _error_response(service, status_code, code, "Rate exceeded")
            else:
                code = "InternalFailure" if fault == "500" else "ServiceUnavailable"
                status, headers, data = _error_response(service, int(fault), code, "injected fault")
            start_response(status, headers)
            return [data]
        start_response(status, headers)
        return chunks


def _error_shape(service: str) -> str:
    """The service whose error shape an answer takes: CloudWatch's is made as a query error, then
    translated to CBOR."""
    return "autoscaling" if service == "monitoring" else service


def _denied_response(entry: dict[str, Any], operation: Any, message: str) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """A denied call's answer in its service's own shape (iam.py's DENIED)."""
    service = entry["service"]
    code, error = denied_code(service)
    status, headers, data = _error_response(_error_shape(service), code, error, message)
    if operation is not None:  # CloudWatch's Smithy RPC v2 CBOR
        return _query_response_as_cbor(status, data, operation)
    if entry["action"] in ("HeadObject", "HeadBucket"):  # a HEAD answer has no body
        headers = [(k, "0" if k == "Content-Length" else v) for k, v in headers]
        data = b""
    return status, headers, [data]


def _authorise(entry: dict[str, Any], body: bytes, operation: Any) -> tuple[str, list[tuple[str, str]], list[bytes]] | None:
    """The answer to a request its caller's role does not allow (None: allowed, or not bound)."""
    try:
        reason = authorise(entry, body)
    except KeyError as err:  # a request the emulator's IAM cannot place: fail loudly, never allow
        entry["denied"] = f"unmodelled: {err}"
        status, headers, data = _error_response(_error_shape(entry["service"]), 400, "UnmodelledByTheEmulatorsIam", str(err))
        return (_query_response_as_cbor(status, data, operation) if operation is not None
                else (status, headers, [data]))
    if reason is None:
        return None
    entry["denied"] = reason
    return _denied_response(entry, operation, reason)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _exit_with(pid: int) -> None:
    """Stop once process `pid` is gone (a forked emulator's test process, not its parent)."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


# One read of each service the seeder calls: what a zygote warms before it forks.
WARM_CALLS = (
    ("ec2", "describe_vpcs"), ("autoscaling", "describe_auto_scaling_groups"),
    ("elbv2", "describe_load_balancers"), ("route53", "list_hosted_zones"), ("s3", "list_buckets"),
    ("dynamodb", "list_tables"), ("rds", "describe_db_instances"), ("sns", "list_topics"),
    ("cloudwatch", "describe_alarms"), ("iam", "list_roles"), ("kms", "list_keys"),
)


def _warm(app: "Emulator") -> None:
    """Import, build and initialise everything a first request would (moto's backends, its
    per-service apps, botocore's models), serving one read per service on a throwaway port; then
    forget the requests. What a forked emulator inherits is this, with no state of anyone's."""
    from .seed import base_image, clients

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    shared_log = os.environ.pop("HALFHOUR_REQUEST_LOG", None)
    try:
        warmed = clients(f"http://127.0.0.1:{server.server_port}")
        for service, call in WARM_CALLS:
            getattr(warmed[service], call)()
        base_image()
        reference()  # AWS's Service Authorization Reference, 13 MB of JSON
        load()  # template.yaml
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        if shared_log is not None:
            os.environ["HALFHOUR_REQUEST_LOG"] = shared_log
    STATE.log.clear()


def zygote(path: str) -> None:
    """Serve fresh emulators from one warmed process: each connection to the Unix socket `path`
    sends `{"watch_pid": N, "ssm_registration_seconds": S, "test": name, "iam_without": grants}`
    and gets back the address of an
    emulator forked for it (copy-on-write: a start in milliseconds, not the seconds of importing
    and initialising moto), which stops when process N does. Nothing may run in a thread when it
    forks: the warm-up's server is shut down first."""
    import json
    import signal
    import socket

    app = Emulator()
    _warm(app)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked emulators are reaped as they exit
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    listener.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # the socket appears only once it is bound
    listener.listen(16)
    print(f"halfhour emulator zygote listening on {path}", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            request = json.loads(conn.makefile().readline() or "{}")
            if os.fork() != 0:
                continue
            listener.close()
            STATE.ssm_registration_seconds = float(request.get("ssm_registration_seconds", SSM_REGISTRATION_SECONDS))
            STATE.test = request.get("test") or ""
            if request.get("iam_without"):
                os.environ["HALFHOUR_IAM_WITHOUT"] = str(request["iam_without"])
            server = make_server("127.0.0.1", 0, app, threaded=True)
            threading.Thread(target=_exit_with, args=(int(request["watch_pid"]),), daemon=True).start()
            warm_seed_clients(f"http://127.0.0.1:{server.server_port}")
            conn.sendall(f"halfhour emulator listening on http://127.0.0.1:{server.server_port}\n".encode())
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        server.serve_forever()
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=PACKAGE_DOC.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")),
                        help="0 picks a free port; the chosen one is printed")
    parser.add_argument("--ssm-registration-seconds", type=float, default=SSM_REGISTRATION_SECONDS,
                        help="how long after launch an instance with a profile becomes an SSM managed node")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started it exits (test harnesses)")
    parser.add_argument("--zygote", metavar="SOCKET",
                        help="serve no AWS requests itself: fork a fresh emulator for each connection to this Unix socket")
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    if args.zygote:
        zygote(args.zygote)
    STATE.ssm_registration_seconds = args.ssm_registration_seconds
    server = make_server(args.host, args.port, Emulator(), threaded=True)
    warm_seed_clients(f"http://{args.host}:{server.server_port}")
    print(f"halfhour emulator listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


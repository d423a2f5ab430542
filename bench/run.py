"""halfhour benchmarks: size, cold init, peak memory, handler latency and AWS calls per event of
every function, next to a hello-world lambda_runtime binary built with the same profile in the
same run (the floor). Prints a table and writes BENCHMARKS.md.

Run with `make bench` (release build, the AWS emulator, a Lambda Runtime API stand-in).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
from halfhour_emu.client import EmulatorClient  # noqa: E402

FUNCTIONS = ["scaler", "gold-image", "lifecycle", "failover", "db-events", "reconciler"]
COLD_STARTS = int(os.environ.get("BENCH_COLD_STARTS", "20"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "200"))
ACTING = int(os.environ.get("BENCH_ACTING", "5"))
# Each binary's stderr (its logs when it fails), kept for reading after a run.
LOGS = ROOT / "out" / "bench"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/halfhour/target"))) / "release"


class RuntimeApi:
    """The Lambda Runtime API, as far as a function uses it: hand out events, take answers."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.queue: list[bytes] = []
        self.first_next: float | None = None
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.answers = 0
        # A killed function's pending request must not take the next function's event.
        self.generation = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def peer_gone(self) -> bool:
                try:
                    return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
                except BlockingIOError:
                    return False
                except OSError:
                    return True

            def do_GET(self) -> None:
                # A killed process's last request can reach us after the kill: its peer is gone
                # (end of stream) and it must count neither as the next process's start nor
                # take its event.
                if self.peer_gone():
                    return
                with api.lock:
                    generation = api.generation
                    if api.first_next is None:
                        api.first_next = time.perf_counter()
                    api.lock.notify_all()
                    while not api.queue or api.generation != generation:
                        if api.generation != generation or not api.lock.wait(timeout=30):
                            return
                    if self.peer_gone():
                        return
                    event = api.queue.pop(0)
                    request_id = str(uuid.uuid4())
                    api.sent_at[request_id] = time.perf_counter()
                self.send_response(200)
                for name, value in (
                    ("Lambda-Runtime-Aws-Request-Id", request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000)),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(event))),
                ):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(event)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                request_id = self.path.split("/")[-2]
                with api.lock:
                    if request_id in api.sent_at:
                        api.latencies.append(time.perf_counter() - api.sent_at.pop(request_id))
                    api.answers += 1
                    api.lock.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_port}"

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.lock.notify_all()
            self.queue.clear()
            self.first_next = None
            self.sent_at.clear()
            self.latencies.clear()
            self.answers = 0

    def push(self, event: bytes) -> None:
        with self.lock:
            self.queue.append(event)
            self.lock.notify_all()

    def wait(self, predicate, timeout: float = 60) -> bool:
        with self.lock:
            return self.lock.wait_for(predicate, timeout=timeout)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def build() -> dict[str, tuple[float, int]]:
    """Each package on its own (so each compiles only its own features): seconds, and how many
    targets cargo compiled for it (a lib, a bin, a build script, of this package or a dependency;
    0: it was up to date)."""
    built = {}
    for package in ["hello", *FUNCTIONS]:
        start = time.perf_counter()
        out = subprocess.run(
            ["cargo", "build", "--release", "--quiet", "-p", package, "--message-format=json"],
            cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True,
        ).stdout
        compiled = sum(
            1 for line in out.splitlines()
            if line.startswith("{") and (m := json.loads(line)).get("reason") == "compiler-artifact" and not m.get("fresh")
        )
        built[package] = (time.perf_counter() - start, compiled)
    return built


def build_line(package: str, seconds: float, compiled: int) -> str:
    """One package's build in this run: an up-to-date package has no build time to report."""
    if not compiled:
        return f"{package} up to date"
    return f"{package} {seconds:.0f} s ({compiled} target{'' if compiled == 1 else 's'} compiled)"


def zip_size(binary: Path) -> int:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(binary, "bootstrap")
    return len(buffer.getvalue())


def spawn(binary: Path, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    start = time.perf_counter()
    process = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=open(LOGS / f"{binary.name}.log", "ab"))
    return process, start


def stop(process: subprocess.Popen) -> int:
    """Stop the function; its peak resident memory (KiB) since exec. VmHWM, not the wait4
    rusage: a child's ru_maxrss also counts the forked copy of this Python process."""
    with open(f"/proc/{process.pid}/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    process.send_signal(signal.SIGKILL)
    process.wait()
    return peak


def emulator_requests(endpoint: str) -> int:
    return len(EmulatorClient(endpoint).requests())


def alarm(cluster: str, i: int) -> dict:
    stamp = datetime.fromtimestamp(1_795_000_000 + i * 30, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return {"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {
        "alarmName": f"{cluster}-cpu-high", "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": stamp},
        "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": stamp}, "configuration": {"metrics": []}}}


def tick(cluster: str, i: int) -> dict:
    return {"action": "reconcile", "cluster": cluster}


def schedule(cluster: str, i: int) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-27T15:01:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/bench"], "detail": {}}


def rds_failover(cluster: str, i: int) -> dict:
    db = f"{cluster}-db"
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "RDS DB Instance Event", "source": "aws.rds",
            "account": "123456789012", "time": "2026-11-27T15:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:rds:us-east-1:123456789012:db:{db}"],
            "detail": {"EventCategories": ["failover"], "SourceType": "DB_INSTANCE", "SourceIdentifier": db,
                       "SourceArn": f"arn:aws:rds:us-east-1:123456789012:db:{db}", "Date": "2026-11-27T15:00:00.000Z",
                       "Message": "Multi-AZ instance failover started.", "EventID": f"RDS-EVENT-0013#{i}"}}


class Cluster:
    """One function's own seeded cluster, and the resets that make each acting sample act."""

    def __init__(self, endpoint: str, name: str) -> None:
        import boto3

        self.endpoint, self.name = endpoint, name
        self.emu = EmulatorClient(endpoint)
        self.env = self.emu.seed(name)["env"]
        kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        self.ddb, self.asg, self.r53 = (boto3.client(s, **kw) for s in ("dynamodb", "autoscaling", "route53"))
        gate = self.env["HALFHOUR_GATE_HEALTH_CHECK_ID"]
        self.launched: set[str] = set()
        self.gate_threshold = self.r53.get_health_check(HealthCheckId=gate)["HealthCheck"]["HealthCheckConfig"]["HealthThreshold"]

    def forget(self, doc: str) -> None:
        self.ddb.delete_item(TableName=self.env["HALFHOUR_TABLE"],
                             Key={"pk": {"S": f"cluster#{self.name}"}, "sk": {"S": f"doc#{doc}"}})

    def desired(self, change: int = 0, to: int | None = None) -> None:
        group = self.env["HALFHOUR_ASG_NAME"]
        now = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["DesiredCapacity"]
        self.asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=now + change if to is None else to)

    def launch_event(self) -> dict:
        """EventBridge's lifecycle event for the group's newest launch waiting on its hook."""
        waiting = [a for a in self.emu.lifecycle_actions() if a["AutoScalingGroupName"] == self.env["HALFHOUR_ASG_NAME"]
                   and a["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"]
        action = next(a for a in waiting if a["EC2InstanceId"] not in self.launched)
        self.launched.add(action["EC2InstanceId"])
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "EC2 Instance-launch Lifecycle Action",
                "source": "aws.autoscaling", "account": "123456789012", "time": "2026-11-27T14:00:00Z",
                "region": "us-east-1", "resources": [], "detail": {
                    "LifecycleActionToken": action["LifecycleActionToken"],
                    "AutoScalingGroupName": action["AutoScalingGroupName"],
                    "LifecycleHookName": action["LifecycleHookName"], "EC2InstanceId": action["EC2InstanceId"],
                    "LifecycleTransition": action["LifecycleTransition"], "NotificationMetadata": "",
                    "Origin": "EC2", "Destination": "AutoScalingGroup"}}

    def site_healthy(self, healthy: bool) -> None:
        self.emu.health_check_status(self.env["HALFHOUR_SITE_HEALTH_CHECK_ID"], healthy)

    def restore_gate(self) -> None:
        self.r53.update_health_check(HealthCheckId=self.env["HALFHOUR_GATE_HEALTH_CHECK_ID"],
                                     HealthThreshold=self.gate_threshold)


@dataclass
class Scenario:
    """How one loop is measured: the event it gets most (held), the event that makes it act,
    and what comes before each (not counted)."""

    held: object
    acting: object
    warm_up: object = None  # once, before the held events
    before_acting: object = None  # before each acting event
    after_acting: object = None  # after each acting event
    # The fewest calls a held event needs (bench/analysis.md says why).
    minimum_held: int = 0


def scenarios() -> dict[str, Scenario]:
    def fail_over(c: Cluster) -> None:
        c.site_healthy(False)

    def fail_back(c: Cluster) -> None:
        c.site_healthy(True)
        c.forget("failover")
        c.restore_gate()

    return {
        "hello": Scenario(held=lambda c, i: {"n": i}, acting=lambda c, i: {"n": i}),
        # Held: a CPU-high alarm inside the scale-out cooldown. Acting: the cooldown forgotten.
        "scaler": Scenario(
            held=lambda c, i: alarm(c.name, i), acting=lambda c, i: alarm(c.name, 10_000 + i),
            warm_up=lambda c: c.invoke(alarm(c.name, -3)),
            before_acting=lambda c: (c.forget("scaler"), c.desired(to=2)), minimum_held=5,
        ),
        # Held: reconcile, no bake. Acting: an operator's bake (cancelled after, not counted).
        "gold-image": Scenario(
            held=lambda c, i: tick(c.name, i), acting=lambda c, i: {"action": "bake", "cluster": c.name},
            after_acting=lambda c: c.invoke({"action": "cancel", "cluster": c.name}),
            minimum_held=3,
        ),
        # Held: reconcile, nothing waiting. Acting: the launch event of a new instance.
        "lifecycle": Scenario(
            held=lambda c, i: tick(c.name, i), acting=lambda c, i: c.launch_event(),
            before_acting=lambda c: c.desired(change=1), minimum_held=1,
        ),
        # Held: reconcile, site healthy, page in place. Acting: the site's check failing.
        "failover": Scenario(
            held=lambda c, i: tick(c.name, i), acting=lambda c, i: tick(c.name, i),
            warm_up=lambda c: c.invoke(tick(c.name, -3)),
            before_acting=fail_over, after_acting=fail_back, minimum_held=4,
        ),
        # Held: reconcile. Acting: an RDS failover starting (opens the DB window).
        "db-events": Scenario(
            held=lambda c, i: tick(c.name, i), acting=lambda c, i: rds_failover(c.name, i),
            minimum_held=3,
        ),
        # Every tick fans out: one asynchronous invoke per loop.
        "reconciler": Scenario(
            held=lambda c, i: schedule(c.name, i), acting=lambda c, i: schedule(c.name, i),
            minimum_held=5,
        ),
    }


def main() -> None:
    built = build()
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    python = sys.executable
    emulator = subprocess.Popen(
        [python, str(ROOT / "tests/emulator/halfhour_emulator.py"), "--port", "0", "--exit-with-parent"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    endpoint = emulator.stdout.readline().split()[-1]
    api = RuntimeApi()
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    # Every function's cluster first; then the cold starts, round-robin over the binaries so the
    # floor and each function start under the same conditions (the emulator as busy for each).
    clusters, envs = {}, {}
    for name in scenarios():
        cluster = clusters[name] = Cluster(endpoint, f"bench-{name}")
        for function in FUNCTIONS:
            cluster.emu.declare_function(f"{cluster.name}-{function}")
        envs[name] = {**base_env, **cluster.env,
                      "HALFHOUR_RECONCILE_FUNCTIONS": ",".join(f"{cluster.name}-{f}" for f in FUNCTIONS[:-1])}
    print(f"1 + {COLD_STARTS} cold starts of each binary, round-robin", file=sys.stderr, flush=True)
    inits = {name: [] for name in clusters}
    firsts = {name: [] for name in clusters}
    # Round 0 is not counted: it pages each binary in and does each cluster's first work (the
    # scaler's first step, the static page's first publication), which the emulator is busy
    # with for a while after.
    for round in range(COLD_STARTS + 1):
        for name, scenario in scenarios().items():
            api.reset()
            process, start = spawn(TARGET / name, envs[name])
            if not api.wait(lambda: api.first_next is not None, timeout=30):
                raise SystemExit(f"{name} never asked for an event (its log: {LOGS / name}.log)")
            init = api.first_next - start
            # The cold process's first event, what a caller waits for: init and first use (TLS, clients).
            api.push(json.dumps(scenario.held(clusters[name], -1)).encode())
            if not api.wait(lambda: api.answers > 0, timeout=60):
                raise SystemExit(f"{name} did not answer its first event (its log: {LOGS / name}.log)")
            if round:
                inits[name].append(init)
                firsts[name].append(api.latencies[0])
            stop(process)
    rows = []
    for name, scenario in scenarios().items():
        binary, cluster, env = TARGET / name, clusters[name], envs[name]
        print(f"{name}: {EVENTS} held and {ACTING} acting events", file=sys.stderr, flush=True)
        api.reset()
        process, _ = spawn(binary, env)
        answered = 0

        def invoke(event: dict) -> int:
            """Deliver one event; the AWS calls it made."""
            nonlocal answered
            before = emulator_requests(endpoint)
            api.push(json.dumps(event).encode())
            answered += 1
            if not api.wait(lambda: api.answers >= answered, timeout=60):
                raise SystemExit(f"{name} did not answer event {answered} (its log: {LOGS / name}.log)")
            return emulator_requests(endpoint) - before

        cluster.invoke = invoke
        if scenario.warm_up:
            scenario.warm_up(cluster)
        api.latencies.clear()
        held = [invoke(scenario.held(cluster, i)) for i in range(EVENTS)]
        latencies = list(api.latencies)
        acting = []
        for i in range(ACTING):
            if scenario.before_acting:
                scenario.before_acting(cluster)
            acting.append(invoke(scenario.acting(cluster, i)))
            if scenario.after_acting:
                scenario.after_acting(cluster)
        peak_kib = stop(process)
        size = binary.stat().st_size
        rows.append({
            "name": name, "size": size, "zip": zip_size(binary), "built": built[name],
            "init_p50": statistics.median(inits[name]) * 1000, "init_p95": percentile(inits[name], 95) * 1000,
            "first_p50": statistics.median(firsts[name]) * 1000,
            "rss_mib": peak_kib / 1024, "lat_p50": statistics.median(latencies) * 1000,
            "lat_p99": percentile(latencies, 99) * 1000,
            "held": statistics.median(held), "held_max": max(held), "acting": statistics.median(acting),
            "minimum_held": scenario.minimum_held,
        })
    emulator.terminate()
    floor = rows[0]
    header = ("| binary | zip | stripped | init p50 | init p95 | ×floor p50 | ×floor p95 | first event p50 | peak RSS "
              "| handler p50 | handler p99 | calls held (max) | calls acting | minimum held |")
    lines = [header, "|" + "---|" * 14]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['zip'] / 1e6:.2f} MB | {r['size'] / 1e6:.2f} MB | {r['init_p50']:.2f} ms | "
            f"{r['init_p95']:.2f} ms | {r['init_p50'] / floor['init_p50']:.2f} | {r['init_p95'] / floor['init_p95']:.2f} | "
            f"{r['first_p50']:.2f} ms | {r['rss_mib']:.1f} MiB | {r['lat_p50']:.2f} ms | {r['lat_p99']:.2f} ms | "
            f"{r['held']:g} ({r['held_max']}) | {r['acting']:g} | {r['minimum_held']} |"
        )
    table = "\n".join(lines)
    print(table)
    cores = os.cpu_count() or 0
    machine = f"{platform.machine()}, {cores} core{'' if cores == 1 else 's'}, {platform.system()} {platform.release()}"
    builds = ", ".join(
        build_line(name, seconds, compiled) for name, (seconds, compiled) in built.items()
    )
    analysis = (ROOT / "bench" / "analysis.md").read_text()
    (ROOT / "BENCHMARKS.md").write_text(
        "# Benchmarks\n\n"
        f"Measured {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} on {machine} with `make bench`: "
        f"{COLD_STARTS} cold starts per binary, round-robin over the binaries after one uncounted round (init = process exec to its first `/next` request to the Lambda "
        "Runtime API stand-in; first event = the cold process's first answer), then on one warm process "
        f"{EVENTS} held events and {ACTING} acting events against the AWS emulator on loopback, each function on "
        "its own seeded cluster. Calls are counted in the emulator's request log; handler latency is over the "
        "held events.\n\n"
        f"{table}\n\nRelease builds in this run (each `cargo build --release -p <package>` on its own, so each "
        f"compiles only its own features): {builds}.\n\n"
        f"{analysis}"
    )
    print(f"\nwritten to {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()

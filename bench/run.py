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
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
import seed  # noqa: E402

FUNCTIONS = ["scaler", "gold-image", "lifecycle", "failover", "db-events", "reconciler"]
COLD_STARTS = int(os.environ.get("BENCH_COLD_STARTS", "20"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "200"))
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

            def do_GET(self) -> None:
                with api.lock:
                    generation = api.generation
                    if api.first_next is None:
                        api.first_next = time.perf_counter()
                    api.lock.notify_all()
                    while not api.queue or api.generation != generation:
                        if api.generation != generation or not api.lock.wait(timeout=30):
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


def build() -> dict[str, float]:
    times = {}
    for package in ["hello", *FUNCTIONS]:
        start = time.perf_counter()
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", package], cwd=ROOT, check=True)
        times[package] = time.perf_counter() - start
    return times


def zip_size(binary: Path) -> int:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(binary, "bootstrap")
    return len(buffer.getvalue())


def spawn(binary: Path, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    start = time.perf_counter()
    process = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    with urllib.request.urlopen(f"{endpoint}/_halfhour/requests") as response:
        return len(json.load(response))


def typical_event(name: str, i: int, cluster: str) -> dict:
    if name == "hello":
        return {"n": i}
    if name == "scaler":
        stamp = datetime.fromtimestamp(1_795_000_000 + i * 30, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        return {"detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch", "detail": {
            "alarmName": f"{cluster}-cpu-high", "state": {"value": "ALARM", "timestamp": stamp},
            "previousState": {"value": "OK", "timestamp": stamp}}}
    if name == "reconciler":
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "123456789012", "time": "2026-11-27T15:01:00Z", "region": "us-east-1",
                "resources": ["arn:aws:events:us-east-1:123456789012:rule/bench"], "detail": {}}
    return {"action": "reconcile", "cluster": cluster}


def main() -> None:
    build_times = build()
    python = sys.executable
    emulator = subprocess.Popen(
        [python, str(ROOT / "tests/emulator/halfhour_emulator.py"), "--port", "0", "--exit-with-parent"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    endpoint = emulator.stdout.readline().split()[-1]
    cluster = "bench"
    ids = seed.seed(endpoint, cluster)
    for function in FUNCTIONS:
        body = json.dumps({"name": f"{cluster}-{function}"}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_halfhour/functions", data=body, method="POST"))
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
        "HALFHOUR_RECONCILE_FUNCTIONS": ",".join(f"{cluster}-{f}" for f in FUNCTIONS[:-1]),
        **ids,
    }
    rows = []
    for name in ["hello", *FUNCTIONS]:
        binary = TARGET / name
        inits = []
        for _ in range(COLD_STARTS):
            api.reset()
            process, start = spawn(binary, base_env)
            if not api.wait(lambda: api.first_next is not None, timeout=30):
                raise SystemExit(f"{name} never asked for an event")
            inits.append(api.first_next - start)
            stop(process)
        api.reset()
        process, _ = spawn(binary, base_env)
        calls = []
        for i in range(EVENTS):
            before = emulator_requests(endpoint)
            api.push(json.dumps(typical_event(name, i, cluster)).encode())
            if not api.wait(lambda: api.answers > i, timeout=60):
                raise SystemExit(f"{name} did not answer event {i}")
            calls.append(emulator_requests(endpoint) - before)
        latencies = list(api.latencies)
        peak_kib = stop(process)
        size = binary.stat().st_size
        rows.append({
            "name": name, "size": size, "zip": zip_size(binary), "build_s": build_times[name],
            "init_p50": statistics.median(inits) * 1000, "init_p95": percentile(inits, 95) * 1000,
            "rss_mib": peak_kib / 1024, "lat_p50": statistics.median(latencies) * 1000,
            "lat_p99": percentile(latencies, 99) * 1000, "calls": (min(calls), statistics.median(calls), max(calls)),
        })
    emulator.terminate()
    floor = rows[0]["init_p50"]
    header = "| binary | stripped | zip | init p50 | init p95 | ×floor | peak RSS | handler p50 | handler p99 | AWS calls/event (min/med/max) |"
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['size'] / 1e6:.2f} MB | {r['zip'] / 1e6:.2f} MB | {r['init_p50']:.1f} ms | "
            f"{r['init_p95']:.1f} ms | {r['init_p50'] / floor:.2f} | {r['rss_mib']:.1f} MiB | {r['lat_p50']:.2f} ms | "
            f"{r['lat_p99']:.2f} ms | {r['calls'][0]}/{r['calls'][1]:g}/{r['calls'][2]} |"
        )
    table = "\n".join(lines)
    print(table)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    builds = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in build_times.items())
    analysis = (ROOT / "bench" / "analysis.md").read_text()
    (ROOT / "BENCHMARKS.md").write_text(
        "# Benchmarks\n\n"
        f"Measured {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} on {machine} with `make bench` "
        f"({COLD_STARTS} cold starts and {EVENTS} events per binary, the AWS emulator on loopback, a Lambda "
        "Runtime API stand-in; init = process exec to the first `/next` request).\n\n"
        f"{table}\n\nRelease builds in this run: {builds} (each a separate `cargo build --release -p`; the "
        "first one builds the shared dependencies).\n\n"
        f"{analysis}"
    )
    print(f"\nwritten to {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The founding story, played on the real function binaries: `cargo lambda watch` serves them as
Lambda would, the AWS emulator (moto + halfhour's extension) is the cloud, and this script is
AWS's event delivery — it sends each event in the shape AWS sends it (EventBridge, alarm actions,
lifecycle actions, the reconciler's async fan-out) and checks what the cluster looks like after.

    scripts/demo.sh            (make demo) installs, builds, runs this, cleans up

Prints one line per event and decision with the emulator's resulting state, checks every step's
expected outcome, writes <out>/report.md (timeline) and <out>/report.svg (capacity and DNS over
time, flips marked), and exits non-zero if any check failed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
sys.path.insert(0, str(ROOT / "demo"))

import boto3  # noqa: E402
from halfhour_emu.client import EmulatorClient  # noqa: E402
from report import write_report  # noqa: E402

CLUSTER = "prod"
LOOPS = ["gold-image", "scaler", "lifecycle", "failover", "db-events"]
# Short timers for a story told in minutes; every other setting is the template's default.
DEMO_TIMERS = {
    "HALFHOUR_HOLD_DOWN_SECONDS": "10",
    "HALFHOUR_HOLD_DOWN_MAX_SECONDS": "40",
    "HALFHOUR_FLIP_BUDGET": "6",
    "HALFHOUR_DB_GRACE_SECONDS": "60",
    "HALFHOUR_DB_CLOSE_GRACE_SECONDS": "0",
    "HALFHOUR_SCALE_OUT_COOLDOWN_SECONDS": "0",
    "HALFHOUR_INSTANCE_WARMUP_SECONDS": "0",
    "HALFHOUR_DRAIN_MAX_SECONDS": "0",
    "HALFHOUR_READINESS_BUDGET_SECONDS": "60",
    # The canary's bake time, on the emulator's clock (the demo moves it 5 s per look).
    "HALFHOUR_CANARY_BAKE_SECONDS": "30",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(ts: float, millis: bool = False) -> str:
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return text + (f".{int(ts * 1000) % 1000:03d}+0000" if millis else "Z")


def fixture(path: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / path).read_text())


# ------------------------------------------------------------------------------ processes


class Processes:
    """Every process the demo starts, each in its own process group, all stopped at exit."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kw: Any) -> subprocess.Popen:
        process = subprocess.Popen(argv, start_new_session=True, **kw)
        self.started.append(process)
        return process

    def stop_all_but(self, keep: int) -> None:
        """Stop every process started after the first `keep`."""
        kept, self.started = self.started[:keep], self.started[keep:]
        self.stop_all()
        self.started = kept

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.started.clear()


# ------------------------------------------------------------------------------ the world


@dataclass
class Row:
    t: float
    step: int
    source: str
    function: str
    outcome: str
    desired: int
    in_service: int
    waiting: int
    dns: str
    refresh: str  # the gold image's refresh phase (Canary, CanaryBake, Rolling, RollingBack) or ""


@dataclass
class World:
    emulator: str
    invoke_url: str
    env: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    step: int = 0
    rows: list[Row] = field(default_factory=list)
    checks: list[tuple[int, str, bool]] = field(default_factory=list)
    steps: dict[int, str] = field(default_factory=dict)
    log_cursor: int = 0
    log_path: Path | None = None  # the watch log of this world's functions
    refresh: str = ""  # the refresh phase the gold-image loop last reported
    bake: dict[str, Any] = field(default_factory=dict)  # the bake record it last reported
    emu: EmulatorClient = field(init=False, repr=False)  # the emulator's control endpoints

    def __post_init__(self) -> None:
        self.emu = EmulatorClient(self.emulator)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.emulator, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    # -- the emulator's control endpoints (self.emu)

    def visit(self, host: str, path: str = "/") -> tuple[int, str]:
        """What a visitor's browser gets from host + path (DNS followed as Route53 answers)."""
        status, _, body = self.emu.visit(host, path)
        return status, body

    def site_healthy(self, healthy: bool) -> None:
        self.emu.health_check_status(self.env["HALFHOUR_SITE_HEALTH_CHECK_ID"], healthy)

    # -- what the cluster looks like

    def observe(self) -> dict[str, Any]:
        group = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[self.env["HALFHOUR_ASG_NAME"]])["AutoScalingGroups"][0]
        states = [i["LifecycleState"] for i in group["Instances"]]
        answer = self.emu.resolve(self.env["HALFHOUR_HOSTED_ZONE_ID"], self.env["HALFHOUR_RECORD_NAME"])
        return {
            "desired": group["DesiredCapacity"],
            "in_service": states.count("InService"),
            "waiting": sum(s.endswith(":Wait") for s in states),
            "standby": states.count("Standby"),
            "entering_standby": states.count("EnteringStandby"),
            "dns": "balancer" if answer["answer"] in ("PRIMARY", "SIMPLE") else "static",
        }

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def record(self, source: str, function: str, outcome: str) -> dict[str, Any]:
        state = self.observe()
        row = Row(self.elapsed(), self.step, source, function, outcome, state["desired"], state["in_service"],
                  state["waiting"], state["dns"], self.refresh)
        self.rows.append(row)
        standby = f", Standby {state['standby']}" if state["standby"] else ""
        print(f"[{row.t:6.1f}s] {source:<34} → {function:<10} {outcome[:70]:<70} | desired {row.desired}, "
              f"InService {row.in_service}, waiting {row.waiting}{standby} | DNS {row.dns}", flush=True)
        return state

    # -- AWS's delivery

    def invoke(self, function: str, payload: dict[str, Any], source: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.invoke_url}/2015-03-31/functions/{function}/invocations",
            data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                body = json.loads(response.read() or b"null")
                failed = response.headers.get("X-Amz-Function-Error") is not None
        except urllib.error.HTTPError as err:
            body, failed = json.loads(err.read() or b"null"), True
        outcome = summarize(body, failed)
        if function == "gold-image" and not failed:
            self.follow_bake(body)
        self.record(source, function, outcome)
        return {"ok": not failed, "body": body}

    def follow_bake(self, body: Any) -> None:
        """The refresh phase and bake record a gold-image answer reports (for the picture)."""
        if not isinstance(body, dict):
            return
        self.bake = body.get("bake") or self.bake
        for step in body.get("steps") or []:
            if isinstance(step, dict) and ("WatchRefresh" in step or "EnterPhase" in step):
                self.refresh = next(iter(step.values()))["phase"]
            elif isinstance(step, dict) and "CanaryServing" in step:
                self.refresh = "CanaryBake"
            elif isinstance(step, dict) and "RecordOutcome" in step:
                self.refresh = ""

    def tick(self) -> None:
        """The reconciler's tick, and Lambda's delivery of the async invokes it makes."""
        self.invoke("reconciler", fixture("reconciler/scheduled.json"), "schedule: every minute")
        self.deliver_async_invokes()

    def deliver_async_invokes(self) -> None:
        log = self.emu.requests(since=self.log_cursor)
        self.log_cursor += len(log)
        for entry in log:
            if entry["service"] == "lambda" and entry["action"] == "Invoke" and entry["status"] == 202:
                function = entry["params"]["path"].split("/functions/")[1].split("/")[0]
                self.invoke(function, json.loads(entry["params"]["body"]), "lambda: async (reconciler)")

    def deliver_lifecycle_actions(self) -> int:
        """EventBridge's delivery of each waiting instance's lifecycle action."""
        actions = self.emu.lifecycle_actions()
        for action in actions:
            launching = action["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
            event = fixture("lifecycle/launch.json" if launching else "lifecycle/terminate.json")
            event["time"] = iso(time.time())
            event["detail"].update({key: action[key] for key in (
                "LifecycleActionToken", "AutoScalingGroupName", "LifecycleHookName", "EC2InstanceId",
                "LifecycleTransition")})
            kind = "launch" if launching else "terminate"
            self.invoke("lifecycle", event, f"eventbridge: {kind} hook {action['EC2InstanceId'][-8:]}")
        return len(actions)

    def settle_lifecycle(self, rounds: int = 8) -> None:
        """Deliver the waiting instances' lifecycle events, then let the lifecycle loop's
        reconcile drive what still waits (a redelivered event replays its first answer)."""
        if not self.deliver_lifecycle_actions():
            return
        for _ in range(rounds):
            if not self.emu.lifecycle_actions():
                return
            # A new instance is a Systems Manager managed node only once its agent registered:
            # move the emulator's clock past that instead of waiting for it.
            self.emu.advance_clock(5)
            self.invoke("lifecycle", fixture("lifecycle/reconcile.json"), "reconciler: lifecycle reconcile")
            time.sleep(0.5)

    def site_alarm(self, value: str) -> dict[str, Any]:
        event = fixture("failover/site-health-alarm.json")
        now = time.time()
        event["time"] = iso(now)
        event["detail"]["state"]["value"] = value
        event["detail"]["state"]["timestamp"] = iso(now, millis=True)
        event["detail"]["previousState"]["value"] = "OK" if value == "ALARM" else "ALARM"
        return self.invoke("failover", event, f"eventbridge: site-health {value}")

    def cpu_alarm(self, at: float, source: str) -> dict[str, Any]:
        event = fixture("scaler/alarm-action.json")
        event["time"] = event["alarmData"]["state"]["timestamp"] = iso(at, millis=True)
        event["alarmData"]["alarmName"] = f"{self.env['HALFHOUR_CLUSTER']}-cpu-high"
        event["alarmArn"] = event["alarmArn"].replace("prod-cpu-high", event["alarmData"]["alarmName"])
        return self.invoke("scaler", event, source)

    def rds_event(self, name: str, label: str) -> dict[str, Any]:
        event = fixture(f"db-events/{name}.json")
        event["time"] = iso(time.time())
        return self.invoke("db-events", event, f"eventbridge: {label}")

    # -- checks

    def begin(self, number: int, title: str) -> None:
        self.step = number
        self.steps[number] = title
        print(f"\n=== {number}. {title}", flush=True)

    def expect(self, ok: bool, what: str) -> None:
        self.checks.append((self.step, what, bool(ok)))
        print(f"    {'PASS' if ok else 'FAIL'}  {what}", flush=True)

    def flips(self, since_row: int = 0) -> int:
        """DNS changes from the last answer before `since_row` on."""
        answers = [r.dns for r in self.rows[max(since_row - 1, 0):]]
        return sum(a != b for a, b in zip(answers, answers[1:]))


def summarize(body: Any, failed: bool) -> str:
    """One short phrase for a function's answer (each loop reports in its own shape)."""
    if failed:
        if isinstance(body, dict):
            return f"ERROR {body.get('errorType', '')}: {body.get('errorMessage', body)}"
        return f"ERROR {body}"
    compact = lambda value: json.dumps(value, separators=(",", ":"))  # noqa: E731
    if isinstance(body, dict):
        if "serving" in body:
            return f"serving {body['serving']}, gate {body['gate']} ({compact(body.get('reason'))})"
        if "decision" in body:
            return compact(body["decision"])
        if "steps" in body:
            names = [step if isinstance(step, str) else next(iter(step)) for step in body["steps"]]
            names += [next(iter(repair)) for repair in body.get("repairs") or []]
            if body.get("preview"):
                names.append(f"would image {body['preview']['would_image']} with reboot")
            return "steps: " + (", ".join(names) or "none")
        if "invoked" in body:
            return f"asked {len(body['invoked'])} loops to reconcile" + (f", failed {body['failed']}" if body["failed"] else "")
        if "action" in body:
            return str(body["action"])
    return compact(body)


def wait_until(world: World, done: Callable[[], bool], seconds: float, every: float = 3.0,
               look: Callable[[], None] | None = None) -> bool:
    """Tick the reconciler until `done`; `look` runs before each check (AWS moving on)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if look:
            look()
        if done():
            return True
        time.sleep(every)
        world.tick()
    return done()


def bake_up_to_rollout(world: World, request: dict[str, Any]) -> dict[str, Any]:
    """An operator's bake, through to the roll-out: the reference drains, is imaged with reboot,
    the AMI becomes available and its event starts the refresh. What was seen on the way."""
    report = world.invoke("gold-image", request, "operator: sam remote invoke bake")
    bake = (report["body"] or {}).get("bake") or {}
    draining = world.observe()["entering_standby"] == 1 and not bake.get("image_id")
    world.emu.advance_clock(31)  # the target group's deregistration delay
    report = world.invoke("gold-image", fixture("gold-image/reconcile.json"), "reconciler tick: the bake resumes")
    image = ((report["body"] or {}).get("bake") or {}).get("image_id")
    standby = world.observe()["standby"] == 1
    world.emu.advance_clock(31)
    available = fixture("gold-image/ami-available.json")
    available["detail"]["ImageId"] = image
    available["resources"] = [f"arn:aws:ec2:us-east-1::image/{image}"]
    available["time"] = iso(time.time())
    world.invoke("gold-image", available, "eventbridge: EC2 AMI State Change")
    return {"reference": bake.get("reference"), "image": image, "draining": draining, "standby": standby}


def advance_refresh(world: World) -> None:
    """What AWS does between two looks at a refresh: time passes (each replacement's SSM agent
    registers, the canary's bake time runs), and EventBridge delivers the hooks' events."""
    world.emu.advance_clock(5)
    world.deliver_lifecycle_actions()


def running_images(world: World) -> dict[str, int]:
    """How many InService instances of the group run each image."""
    group = world.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[world.env["HALFHOUR_ASG_NAME"]])["AutoScalingGroups"][0]
    serving = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    if not serving:
        return {}
    found = world.client("ec2").describe_instances(InstanceIds=serving)["Reservations"]
    counts: dict[str, int] = {}
    for instance in (i for r in found for i in r["Instances"]):
        counts[instance["ImageId"]] = counts.get(instance["ImageId"], 0) + 1
    return counts


# ------------------------------------------------------------------------------ the story


def trial(world: World) -> None:
    """A second, live cluster (two instances serving, the site's own DNS record) with halfhour
    deployed in observe mode: everything the cluster does is what it would do without halfhour."""
    asg = world.client("autoscaling")
    group = world.env["HALFHOUR_ASG_NAME"]
    world.begin(0, "A trial in observe mode (DryRun=true) on a live cluster: halfhour records, the cluster behaves as without it")
    cursor = len(world.emu.requests())
    world.log_cursor = cursor
    before = world.observe()
    world.expect(before["in_service"] == 2 and before["dns"] == "balancer",
                 "the live site: 2 instances InService, its own record answers the load balancer")
    # The deploy: CloudFormation asks the failover function for the site's records.
    zone, name = world.env["HALFHOUR_HOSTED_ZONE_ID"], world.env["HALFHOUR_RECORD_NAME"]
    answer = world.emu.resolve(zone, name)
    records = fixture("failover/deploy-records.json")
    records["ResponseURL"] = world.emu.cfn_response_url("trial-records")
    records["ResourceProperties"].update(RecordName=world.env["HALFHOUR_RECORD_NAME"],
                                         LoadBalancerDnsName=answer["target"], ObserveMode="true")
    world.invoke("failover", records, "cloudformation: Custom::FailoverRecords Create")
    replies = world.emu.cfn_responses("trial-records")
    world.expect(bool(replies) and replies[-1].get("Status") == "SUCCESS" and world.emu.resolve(zone, name) == answer,
                 "the deploy is answered SUCCESS and the site's own record stays exactly as it was")
    asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
    world.record("operator: desired 3", "-", "one instance launches into Pending:Wait")
    started = time.monotonic()
    world.deliver_lifecycle_actions()
    state = world.observe()
    world.expect(state["in_service"] == 3 and state["waiting"] == 0,
                 f"the launch is InService {time.monotonic() - started:.1f} s later, not after the 300 s heartbeat")
    scaled = world.cpu_alarm(time.time(), "alarm action: cpu-high ALARM")
    world.expect(world.observe()["desired"] == 3 and "Set" in json.dumps(scaled["body"]),
                 "capacity untouched: the scaler recorded desired 3 -> 5 and applied nothing")
    world.site_healthy(False)
    failed_over = world.site_alarm("ALARM")
    world.expect(world.observe()["dns"] == "balancer", "the site check fails: DNS answers what it answered before")
    world.expect((failed_over["body"] or {}).get("reason") == "FailedOver",
                 "the failover loop recorded that it would fail over")
    world.site_healthy(True)
    bake = fixture("gold-image/bake.json")
    bake["cluster"] = world.env["HALFHOUR_CLUSTER"]
    previewed = world.invoke("gold-image", bake, "operator: bake")
    world.expect(previewed["ok"] and (previewed["body"] or {}).get("dry_run") is True,
                 "a bake is previewed: which instance it would image, with reboot")
    asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=2)
    world.record("operator: desired 2", "-", "one instance terminates through the hook")
    world.deliver_lifecycle_actions()
    state = world.observe()
    world.expect(state["in_service"] == 2 and state["waiting"] == 0, "the scale-in is not held either")
    world.tick()
    mutations = [r["action"] for r in world.emu.requests(since=cursor) if r["mutating"]]
    expected = ["CompleteLifecycleAction"] * 2 + ["Invoke"] * len(LOOPS) + ["SetDesiredCapacity"] * 2
    world.expect(sorted(mutations) == expected,
                 "the only changes: the operator's two capacity changes, CONTINUE for each hook and the "
                 f"reconciler asking each loop to reconcile: {sorted(mutations)}")
    time.sleep(1)  # the watch writes each function's log as it runs
    recorded = decisions(world.log_path)
    loops = {"scaling", "lifecycle", "failover", "gold-image", "database", "reconciler"}
    world.expect(loops <= {d["loop"] for d in recorded if d.get("dry_run") is True},
                 f"every loop recorded what it would have done (dry_run: true): {sorted(loops)}")


def https_site(world: World) -> None:
    """The same outage on a site whose static page is served by CloudFront
    (StaticSiteCertificateArn): HTTPS visitors get a 503 maintenance page with Retry-After from a
    private bucket, then the site again."""
    record, balancer = world.env["HALFHOUR_RECORD_NAME"], world.env["HALFHOUR_LOAD_BALANCER_DNS"]
    world.begin(8, "The same outage behind CloudFront: a 503 maintenance page with Retry-After, then the site again")
    world.emu.endpoint_answers(balancer, 200, "<h1>The shop</h1>", port=443, path="/")
    world.expect(world.visit(record) == (200, "<h1>The shop</h1>"), "visitors of the site's name get the site")
    world.site_healthy(False)
    failed_over = world.site_alarm("ALARM")
    world.expect((failed_over["body"] or {}).get("reason") == "FailedOver" and world.observe()["dns"] == "static",
                 "the site check fails: DNS answers the distribution")
    answers = [world.emu.visit(record, path) for path in ("/", "/wp-login.php", "/2026/12/a-post/")]
    world.expect(all(status == 503 and headers.get("Retry-After") == "120" and "right back" in body
                     for status, headers, body in answers),
                 "every path answers 503 with the maintenance page and Retry-After: 120")
    policy = world.client("s3").get_bucket_policy(Bucket=record)["Policy"]
    direct, _ = world.visit(f"{record}.s3-website-us-east-1.amazonaws.com")
    world.expect('"Principal": "*"' not in policy and '"Principal":"*"' not in policy and direct != 200,
                 f"the bucket is private: no public statement, its website endpoint answers {direct}")
    world.site_healthy(True)
    world.site_alarm("OK")
    world.expect(wait_until(world, lambda: world.observe()["dns"] == "balancer", 40),
                 "healthy again: after the hold-down DNS answers the load balancer")
    world.expect(world.visit(record) == (200, "<h1>The shop</h1>"), "visitors get the site again")


def start_https(endpoint: str, processes: "Processes", out: Path, shared: World) -> World:
    """A third cluster whose static page is behind CloudFront, the same binaries served for it;
    its rows and checks go into the shared report."""
    env = EmulatorClient(endpoint).seed("https", capacity=2, cloudfront=True)["env"]
    env["HALFHOUR_RECONCILE_FUNCTIONS"] = "failover"
    world = serve(endpoint, processes, out / "cargo-lambda-watch-https.log", env, ["failover", "reconciler"])
    world.started, world.rows, world.checks, world.steps = shared.started, shared.rows, shared.checks, shared.steps
    return world


def json_lines(log: Path, marker: str) -> list[dict[str, Any]]:
    """The JSON log lines of a watch log that hold `marker`."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if marker in line:
            try:
                found.append(json.loads(line[line.index("{"):]))
            except ValueError:
                continue
    return found


def decisions(log: Path) -> list[dict[str, Any]]:
    """The decision records (one JSON log line each, the record nested under `decision`)."""
    return [line["decision"] for line in json_lines(log, '"message":"decision"') if "decision" in line]


def metric_documents(log: Path) -> list[dict[str, Any]]:
    """The EMF documents (CloudWatch embedded metrics) in a watch log."""
    return json_lines(log, '"_aws"')


def story(world: World) -> None:
    asg = world.client("autoscaling")
    group = world.env["HALFHOUR_ASG_NAME"]

    world.begin(1, "The site's health check runs before any web server exists: DNS answers the static page")
    world.site_healthy(False)
    world.record("route53: site check unhealthy", "-", "Route53's own fail-over (no Lambda needed)")
    world.site_alarm("ALARM")
    status, page = world.visit(world.env["HALFHOUR_RECORD_NAME"])
    world.expect(world.observe()["dns"] == "static", "DNS answers the static S3 site")
    world.expect(status == 200 and "right back" in page, "visitors of the site's name get the maintenance page")

    world.begin(2, "The first instances launch, pass the launch hook, serve; DNS returns after the hold-down")
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=2, DesiredCapacity=2)
    world.record("operator: group min 2, desired 2", "-", "two instances launch into Pending:Wait")
    world.settle_lifecycle()
    state = world.observe()
    world.expect(state["in_service"] == 2 and state["waiting"] == 0, "both instances CONTINUEd to InService")
    world.site_healthy(True)
    world.site_alarm("OK")
    world.expect(world.observe()["dns"] == "static", "healthy again, but DNS stays static during the hold-down")
    held = time.monotonic()
    world.expect(wait_until(world, lambda: world.observe()["dns"] == "balancer", 40),
                 "DNS returns to the load balancer after the hold-down")
    world.expect(time.monotonic() - held >= 10, f"not before the hold-down (10 s): {time.monotonic() - held:.0f} s")

    world.begin(3, "An RDS Multi-AZ failover starts and completes: the brief outage does not move DNS")
    before = len(world.rows)
    world.rds_event("failover-started", "RDS-EVENT-0013 failover started")
    world.tick()
    world.site_healthy(False)
    world.site_alarm("ALARM")
    world.expect(world.observe()["dns"] == "balancer", "site check failing inside the DB window: DNS holds")
    world.site_healthy(True)
    world.site_alarm("OK")
    world.rds_event("failover-completed", "RDS-EVENT-0015 failover completed")
    world.tick()
    world.expect(world.flips(before) == 0, "no DNS flip through the whole DB failover")

    world.begin(4, "A CPU alarm storm: the group scales 2 → … → 10 and holds at 10")
    seen: list[int] = []
    for storm in range(6):
        at = time.time()
        world.cpu_alarm(at, "alarm action: cpu-high ALARM")
        world.cpu_alarm(at, "alarm action: duplicate delivery")
        seen.append(world.observe()["desired"])
        world.settle_lifecycle()
    world.expect(seen[:4] == [4, 6, 8, 10], f"capacity stepped 4, 6, 8, 10 (duplicates changed nothing): {seen}")
    world.expect(max(r.desired for r in world.rows) <= 10, "never above 10")
    state = world.observe()
    world.expect(state["desired"] == 10 and state["in_service"] == 10, "10 InService, holding at the maximum")

    world.begin(5, "A manual gold-image rebuild: reboot, new AMI, new launch-template version, canary, refresh")
    cursor = world.log_cursor
    made = bake_up_to_rollout(world, fixture("gold-image/bake.json"))
    reference, image = made["reference"], made["image"]
    world.expect(made["draining"], f"reference {reference} leaves the load balancer first (EnteringStandby), no reboot yet")
    world.expect(bool(image) and made["standby"], f"reference {reference} in Standby, image {image} pending")
    requests = world.emu.requests(since=cursor)
    creates = [r for r in requests if r["action"] == "CreateImage"]
    world.expect(len(creates) == 1 and creates[0]["params"].get("NoReboot") == "false",
                 "one CreateImage, NoReboot=false sent explicitly")
    world.expect(world.emu.reboots().get(reference or "", 0) == 1, "the reference instance rebooted")
    default = world.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=world.env["HALFHOUR_LAUNCH_TEMPLATE_ID"], Versions=["$Default"])["LaunchTemplateVersions"][0]
    world.expect(default["LaunchTemplateData"]["ImageId"] == image, f"launch template default v{default['VersionNumber']} runs {image}")
    world.expect(wait_until(world, lambda: world.refresh == "CanaryBake" and running_images(world).get(image) == 1,
                            60, every=0.5, look=lambda: advance_refresh(world)),
                 "the canary: one instance runs the new image and serves alone for its bake time")
    world.expect(wait_until(world, lambda: set(running_images(world)) == {image} and world.bake.get("finished"), 120,
                            every=0.5, look=lambda: advance_refresh(world)),
                 "after the bake time the instance refresh replaced every instance with the new image")
    state = world.observe()
    world.expect(state["in_service"] >= 2 and state["standby"] == 0, "nothing left in Standby; the site kept serving")

    world.begin(6, "A second bake whose image answers 5xx: caught at the canary and rolled back")
    good, cursor = image, len(world.emu.requests())
    broken = bake_up_to_rollout(world, {**fixture("gold-image/bake.json"), "reason": "release 43"})["image"]
    first = len(world.rows)  # from the roll-out on (the reference's Standby is the bake's own dip)
    world.expect(wait_until(world, lambda: world.refresh == "CanaryBake" and running_images(world).get(broken) == 1,
                            60, every=0.5, look=lambda: advance_refresh(world)),
                 f"the canary runs {broken}, every other instance {good}")
    cluster = world.env["HALFHOUR_CLUSTER"]
    world.client("cloudwatch").set_alarm_state(AlarmName=f"{cluster}-web-5xx", StateValue="ALARM",
                                               StateReason="the canary answers 503 on every page")
    world.record("cloudwatch: web-5xx ALARM", "-", "the canary's 5xx put the refresh's alarm in ALARM")
    world.expect(wait_until(world, lambda: bool(world.bake.get("finished")), 120, every=0.5,
                            look=lambda: advance_refresh(world)), "the bake finished")
    refresh = world.client("autoscaling").describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"][0]
    world.expect(refresh["Status"] == "RollbackSuccessful"
                 and f"{cluster}-web-5xx" in refresh.get("RollbackDetails", {}).get("RollbackReason", ""),
                 "AWS rolled the refresh back because the 5xx alarm went into ALARM")
    world.client("cloudwatch").set_alarm_state(AlarmName=f"{cluster}-web-5xx", StateValue="OK", StateReason="quiet")
    world.expect(running_images(world) == {good: world.observe()["desired"]}, f"every instance runs {good} again")
    world.expect(min(r.in_service for r in world.rows[first:]) >= 10,
                 "never fewer than 10 served through the canary and the rollback")
    default = world.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=world.env["HALFHOUR_LAUNCH_TEMPLATE_ID"], Versions=["$Default"])["LaunchTemplateVersions"][0]
    world.expect(default["LaunchTemplateData"]["ImageId"] == good and "RolledBack" in (world.bake.get("outcome") or {}),
                 f"the template's default runs {good} again; the bake record marks {broken} bad")
    told = [r for r in world.emu.requests(since=cursor) if r["action"] == "Publish"]
    world.expect(len(told) == 1 and "rolled back" in told[0]["params"].get("Subject", ""),
                 "one notification: the gold image was rolled back, and why")

    world.begin(7, "The health check flaps: DNS flips stay within budget; stable again → one fail-back")
    before = len(world.rows)
    toggles = 0
    for healthy in [False, True] * 5:
        world.site_healthy(healthy)
        world.site_alarm("OK" if healthy else "ALARM")
        toggles += 1
        time.sleep(1.5)
    world.expect(world.observe()["dns"] == "static", "after the flapping, DNS is held on the static site")
    world.expect(wait_until(world, lambda: world.observe()["dns"] == "balancer", 90),
                 "stable again: DNS returns to the load balancer")
    flips = world.flips(before)
    world.expect(flips == 2, f"{toggles} health changes, {flips} DNS flips (one fail-over, one fail-back)")
    documents = metric_documents(world.log_path)
    unlabelled = [d for d in documents if d.get("cluster") != world.env["HALFHOUR_CLUSTER"] or not all(
        "cluster" in dims for m in d["_aws"]["CloudWatchMetrics"] for dims in m["Dimensions"])]
    world.expect(len(documents) > 10 and not unlabelled,
                 f"every one of the {len(documents)} metric documents the functions wrote carries the cluster dimension")
    namespace = world.env["POWERTOOLS_METRICS_NAMESPACE"]
    elsewhere = [m["Namespace"] for d in documents for m in d["_aws"]["CloudWatchMetrics"] if m["Namespace"] != namespace]
    world.expect(not elsewhere, f"and is in the namespace POWERTOOLS_METRICS_NAMESPACE names ({namespace})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo")
    args = parser.parse_args()
    processes = Processes()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    world: World | None = None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        emulator = processes.start(
            [sys.executable, str(ROOT / "tests/emulator/halfhour_emulator.py"), "--port", "0", "--exit-with-parent"],
            stdout=subprocess.PIPE, stderr=open(args.out / "emulator.log", "w"), text=True)
        endpoint = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
        print(f"AWS emulator: {endpoint}", flush=True)
        env = EmulatorClient(endpoint).seed(CLUSTER, capacity=0)["env"]
        env.update(DEMO_TIMERS)
        env["HALFHOUR_RECONCILE_FUNCTIONS"] = ",".join(LOOPS)
        for function in LOOPS:
            EmulatorClient(endpoint).declare_function(function)
        invoke_port = free_port()
        watch_log = open(args.out / "cargo-lambda-watch.log", "w")
        processes.start(["cargo", "lambda", "watch", "--invoke-port", str(invoke_port), "--ignore-changes"],
                        cwd=ROOT, env=function_env(env, endpoint), stdout=watch_log, stderr=subprocess.STDOUT)
        world = World(emulator=endpoint, invoke_url=f"http://127.0.0.1:{invoke_port}", env=env,
                      log_path=args.out / "cargo-lambda-watch.log")
        wait_for_port(invoke_port)
        print(f"Lambda runtime emulator: cargo lambda watch on :{invoke_port} (log: {args.out / 'cargo-lambda-watch.log'})")
        warm_up(world)
        world.started = time.monotonic()
        trial_world = start_trial(endpoint, processes, args.out)
        trial(trial_world)
        world.rows, world.checks, world.steps = trial_world.rows, trial_world.checks, trial_world.steps
        processes.stop_all_but(2)  # the trial's functions; the emulator and the main watch stay
        world.log_cursor = len(world.emu.requests())
        world.started = time.monotonic()
        story(world)
        https_site(start_https(endpoint, processes, args.out, world))
    finally:
        processes.stop_all()
        if world is not None:
            write_report(world, args.out)
    failed = [c for c in world.checks if not c[2]]
    print(f"\n{len(world.checks) - len(failed)}/{len(world.checks)} checks passed; report: {args.out / 'report.md'}, "
          f"{args.out / 'report.svg'}")
    return 1 if failed else 0


def function_env(env: dict[str, str], endpoint: str) -> dict[str, str]:
    return {**os.environ, **env, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "INFO", "RUST_LOG": "info"}


def start_trial(endpoint: str, processes: "Processes", out: Path) -> World:
    """The trial cluster, and the same binaries served a second time with HALFHOUR_DRY_RUN=true."""
    env = EmulatorClient(endpoint).seed("trial", capacity=2, observe=True)["env"]
    env["HALFHOUR_DRY_RUN"] = "true"
    env["HALFHOUR_RECONCILE_FUNCTIONS"] = ",".join(LOOPS)
    world = serve(endpoint, processes, out / "cargo-lambda-watch-trial.log", env)
    world.started = time.monotonic()
    return world


def serve(endpoint: str, processes: "Processes", log: Path, env: dict[str, str],
          functions: list[str] | None = None) -> World:
    """Another cluster's functions: the same binaries under their own `cargo lambda watch`, with
    that cluster's configuration and the demo's short timers, built and started."""
    env.update(DEMO_TIMERS)
    port = free_port()
    processes.start(["cargo", "lambda", "watch", "--invoke-port", str(port), "--ignore-changes"],
                    cwd=ROOT, env=function_env(env, endpoint), stdout=open(log, "w"), stderr=subprocess.STDOUT)
    world = World(emulator=endpoint, invoke_url=f"http://127.0.0.1:{port}", env=env, log_path=log)
    wait_for_port(port)
    warm_up(world, functions)
    return world


def wait_for_port(port: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise SystemExit(f"cargo lambda watch did not listen on :{port} within {seconds:.0f} s")


def warm_up(world: World, functions: list[str] | None = None) -> None:
    """Each function's first invocation builds it (cargo lambda watch); do that before the clock runs."""
    for function in functions or [*LOOPS, "reconciler"]:
        started = time.monotonic()
        print(f"building and starting {function} …", flush=True)
        request = urllib.request.Request(f"{world.invoke_url}/2015-03-31/functions/{function}/invocations",
                                         data=b'{"action": "warm-up"}', method="POST")
        try:
            urllib.request.urlopen(request, timeout=900).read()
        except urllib.error.HTTPError:
            pass  # a bad-event error is the expected answer to the warm-up payload
        print(f"  {function} ready in {time.monotonic() - started:.0f} s", flush=True)
    world.log_cursor = len(world.emu.requests())


if __name__ == "__main__":
    sys.exit(main())

"""The mutation proof of least privilege: for each grant of each function's policy (each action of
each statement, by its Sid), the tests that saw the function make that call (or a call AWS
authorises it inside) are run with that one grant taken from the function's role by the
emulator's IAM (HALFHOUR_IAM_WITHOUT); at least one must fail. The table (function, grant, the
test that caught its removal) goes into RELIABILITY.md between its iam-mutations markers.

A grant no test needs is listed as such: remove it, or justify it in the function's
`GrantedNotCalled` metadata (scripts/iam_proof.py) and say why no test can catch it.

    scripts/iam_mutations.py [--log requests.jsonl] [--write RELIABILITY.md]   # the emulator's venv

Without --log it first runs the whole suite once to record which test made which call. Needs
the test targets built (`cargo nextest run --workspace --no-run`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "emulator"))
from halfhour_emu.iam import IMPLIED_BY, iam_action  # noqa: E402
from halfhour_emu.stack import example, load  # noqa: E402

BEGIN, END = "<!-- iam-mutations -->", "<!-- /iam-mutations -->"


def zygote(socket: str, log: Path) -> subprocess.Popen:
    """The emulators' zygote, each fork appending its requests (with its test's name) to `log`."""
    process = subprocess.Popen([sys.executable, str(ROOT / "tests/emulator/halfhour_emulator.py"), "--zygote", socket,
                                "--exit-with-parent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "HALFHOUR_REQUEST_LOG": str(log)})
    for _ in range(600):
        if os.path.exists(socket):
            return process
        time.sleep(0.1)
    raise SystemExit("the emulator zygote did not start")


def nextest(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["cargo", "nextest", "run", "--workspace", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True)


def calls_by_test(log: Path) -> dict[str, dict[str, Counter[str]]]:
    """function -> IAM action -> how often each test saw the function call it."""
    calls: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        function, dot, _ = entry["app"].partition(".")
        if dot and entry.get("test"):
            calls[function][iam_action(entry["service"], entry["action"])][entry["test"]] += 1
    return calls


# The tests tried first for a grant: those that made its call most often (most likely to need
# it); the rest only when none of them fails.
FIRST = 3


def grants() -> list[tuple[str, str, str]]:
    """(function, Sid, action) for every grant of the existing-cluster stack the tests seed."""
    found = []
    for function, statements in sorted(example(load(), create_cluster=False).function_policies().items()):
        for statement in statements:
            listed = statement["Action"]
            for action in [listed] if isinstance(listed, str) else listed:
                found.append((function, statement["Sid"], action))
    return found


def first_failure(output: str) -> str | None:
    match = re.search(r"^\s+FAIL \[[^\]]*\] \([^)]*\) \S+ (\S+ )?(\S+)$", output, re.MULTILINE)
    return match.group(2) if match else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="a request log of a whole passing run (with test names)")
    parser.add_argument("--write", type=Path, help="put the table into this markdown file, between the markers")
    args = parser.parse_args()
    socket = tempfile.mktemp(suffix=".sock")
    recorded = Path(tempfile.mktemp(suffix=".jsonl"))
    process = zygote(socket, recorded)
    env = {"HALFHOUR_EMULATOR_ZYGOTE": socket}
    try:
        log = args.log
        if log is None:
            log = recorded
            baseline = nextest(["--no-fail-fast"], env)
            if baseline.returncode != 0:
                print(baseline.stdout[-4000:], baseline.stderr[-4000:])
                raise SystemExit("the suite must pass before its grants are taken away")
        calls = calls_by_test(log)
        rows = []
        for function, sid, action in grants():
            counts: Counter[str] = Counter(calls[function].get(action, Counter()))
            for implying in IMPLIED_BY.get(action, set()):
                counts.update(calls[function].get(implying, Counter()))
            tests = [t for t, _ in counts.most_common()]
            caught = None
            if tests:
                started = time.time()
                for batch in (tests[:FIRST], tests[FIRST:]):
                    if not batch or caught:
                        continue
                    ran = nextest(["-E", " | ".join(f"test(={t})" for t in batch)],
                                  {**env, "HALFHOUR_IAM_WITHOUT": f"{function}={sid}/{action}"})
                    caught = first_failure(ran.stdout + ran.stderr) if ran.returncode != 0 else None
                print(f"{function} {sid}/{action}: {caught or 'SURVIVED'} "
                      f"({len(tests)} candidate tests, {time.time() - started:.0f} s)", flush=True)
            else:
                print(f"{function} {sid}/{action}: no test calls it", flush=True)
            rows.append((function, sid, action, caught, len(tests)))
    finally:
        process.kill()
        recorded.unlink(missing_ok=True)
    table = ["| function | grant (statement / action) | the test that failed without it |", "|---|---|---|"]
    for function, sid, action, caught, candidates in rows:
        verdict = f"`{caught}`" if caught else ("**no test calls it**" if not candidates else "**survived**")
        table.append(f"| {function} | {sid} / `{action}` | {verdict} |")
    text = "\n".join(table)
    print(text)
    if args.write:
        document = args.write.read_text()
        if BEGIN not in document or END not in document:
            raise SystemExit(f"{args.write} has no {BEGIN} ... {END} markers")
        head, rest = document.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        args.write.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    survivors = [r for r in rows if not r[3]]
    print(f"{len(rows)} grants, {len(rows) - len(survivors)} caught, {len(survivors)} not", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

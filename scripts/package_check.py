#!/usr/bin/env python3
"""`sam package` of the built template into the AWS emulator's S3, never AWS, then checks that
what another template would nest is complete: every function's CodeUri is an s3:// object that was
uploaded (a zip holding its `bootstrap`), the Serverless Application Repository metadata is within
the repository's limits and its LicenseUrl and ReadmeUrl were uploaded with the repository's
LICENSE and README.md, and the packaged template passes cfn-lint. Run with the tools venv's python (boto3, cfn-lint, sam):

    HALFHOUR_PYTHON=<emulator venv python> scripts/package_check.py <sam build dir>/template.yaml

SAM CLI's clients are plain boto3 clients, which (boto3 >= 1.28) take their endpoint from
AWS_ENDPOINT_URL; the service-specific AWS_ENDPOINT_URL_S3 is set too, so a variable of the
caller's cannot send the upload elsewhere, and the credentials are the emulator's dummies.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import boto3
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "halfhour-package-check"
TOOLS = Path(sys.executable).parent


def start_emulator() -> tuple[subprocess.Popen, str]:
    """The emulator on a free port (it prints the one it chose); it exits with this process."""
    python = os.environ.get("HALFHOUR_PYTHON") or sys.exit("HALFHOUR_PYTHON: the emulator venv's python")
    env = {k: v for k, v in os.environ.items() if k != "HALFHOUR_REQUEST_LOG"}  # not the IAM proof's calls
    # Its request lines go to a file, shown only when the emulator does not start.
    log = tempfile.TemporaryFile(mode="w+")
    emulator = subprocess.Popen(
        [python, str(ROOT / "tests/emulator/halfhour_emulator.py"), "--host", "127.0.0.1", "--port", "0",
         "--exit-with-parent"],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    line = emulator.stdout.readline()
    if "listening on " not in line:
        emulator.kill()
        log.seek(0)
        sys.exit(f"the emulator did not start: {line!r}\n{log.read()[-2000:]}")
    return emulator, line.rsplit("listening on ", 1)[1].strip()


def aws_env(endpoint: str) -> dict[str, str]:
    """The environment of every AWS call here: the emulator's endpoint and dummy credentials only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, SAM_CLI_TELEMETRY="0")
    return env


def s3_key(uri: object, what: str, problems: list[str]) -> str | None:
    prefix = f"s3://{BUCKET}/"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        problems.append(f"{what}: {uri!r} is not an object in s3://{BUCKET}")
        return None
    return uri[len(prefix):]


def application_metadata(app: dict) -> list[str]:
    """What `sam publish` would be refused for: the Serverless Application Repository's
    CreateApplication constraints on the metadata."""
    rules = [
        ("Name", r"[a-zA-Z0-9\-]{1,140}"),
        ("Author", r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?"),
        ("Description", r"(?s).{1,256}"),
        ("SemanticVersion", r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"),
        ("SpdxLicenseId", r"Apache-2\.0"),
    ]
    problems = [f"AWS::ServerlessRepo::Application {field}: {app.get(field)!r} does not match {rule}"
                for field, rule in rules if not re.fullmatch(rule, str(app.get(field, "")))]
    labels = app.get("Labels", [])
    if len(labels) > 10 or not all(re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", str(label)) for label in labels):
        problems.append(f"AWS::ServerlessRepo::Application Labels: {labels!r}")
    return problems


def check(packaged: Path, s3) -> list[str]:
    template, errors = decode(str(packaged))
    if template is None:
        return [f"{packaged}: {errors}"]
    problems: list[str] = []
    uploaded = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    functions = {n: r for n, r in template["Resources"].items() if r.get("Type") == "AWS::Serverless::Function"}
    if len(functions) != 6:
        problems.append(f"{len(functions)} functions in the packaged template, not 6")
    for name, resource in sorted(functions.items()):
        key = s3_key(resource["Properties"].get("CodeUri"), f"{name} CodeUri", problems)
        if key is None:
            continue
        if key not in uploaded:
            problems.append(f"{name}: s3://{BUCKET}/{key} was not uploaded")
            continue
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        try:
            names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        except zipfile.BadZipFile:
            names = []
        if "bootstrap" not in names:
            problems.append(f"{name}: its code is not a zip with a bootstrap ({len(body)} bytes)")
    if "CodeUri" in template.get("Globals", {}).get("Function", {}):
        problems.append("Globals: a CodeUri, which `sam build` and `sam package` leave as written")
    app = template.get("Metadata", {}).get("AWS::ServerlessRepo::Application", {})
    problems += application_metadata(app)
    for field, local in [("LicenseUrl", "LICENSE"), ("ReadmeUrl", "README.md")]:
        key = s3_key(app.get(field), f"AWS::ServerlessRepo::Application {field}", problems)
        if key is None:
            continue
        if key not in uploaded:
            problems.append(f"{field}: s3://{BUCKET}/{key} was not uploaded")
        elif s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() != (ROOT / local).read_bytes():
            problems.append(f"{field}: the uploaded object is not the repository's {local}")
    lint = subprocess.run([str(TOOLS / "cfn-lint"), str(packaged)], capture_output=True, text=True)
    if lint.returncode != 0:
        problems.append(f"cfn-lint on the packaged template:\n{lint.stdout}{lint.stderr}")
    print(f"{len(functions)} functions' code, the licence and the README in s3://{BUCKET}; "
          f"{len(uploaded)} objects uploaded")
    return problems


def main(built: str) -> int:
    emulator, endpoint = start_emulator()
    try:
        env = aws_env(endpoint)
        s3 = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                   region_name="us-east-1").client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as out:
            # HALFHOUR_PACKAGED keeps the packaged template (to read, or to try a nesting example with).
            packaged = Path(os.environ.get("HALFHOUR_PACKAGED") or Path(out) / "packaged.yaml")
            subprocess.run([str(TOOLS / "sam"), "package", "--template-file", built, "--s3-bucket", BUCKET,
                            "--s3-prefix", "halfhour", "--output-template-file", str(packaged),
                            "--no-progressbar"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            problems = check(packaged, s3)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    for problem in problems:
        print(f"package check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))

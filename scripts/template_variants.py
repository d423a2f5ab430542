"""Every loop switch (and observe mode, and both cluster modes) through cfn-lint, sam validate and
checkov: writes the template once per combination of parameter defaults, then lints them all.

cfn-lint already follows conditions; checkov and the SAM translator read the defaults, so each
switch is proved by a template whose defaults are that combination.
Usage: python scripts/template_variants.py template.yaml
"""

import itertools
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LOOPS = ["EnableScaling", "EnableLifecycle", "EnableFailover", "EnableGoldImage", "EnableDatabase"]
CLUSTER_LOOPS = LOOPS[:4]  # the template's AtLeastOneLoop rule needs one of these
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/5f2b7c1e-0d3a-4e8f-9b6a-2c4d8e0f1a3b"


def with_defaults(template: str, values: dict) -> str:
    for name, value in values.items():
        pattern = rf'(\n  {name}:\n    Type: String\n    Default: )"?[^"\n]*"?'
        template, n = re.subn(pattern, rf'\g<1>"{value}"', template)
        if n != 1:
            sys.exit(f"parameter {name} with a String default not found")
    return template


def combinations():
    """Every combination of the loop switches the AtLeastOneLoop rule allows (30), each with one of
    the four observe-mode x cluster-mode pairs in turn and, for a created cluster, each way of
    reaching Systems Manager in turn; then an HTTP-only site, created and existing."""
    modes = list(itertools.product(["false", "true"], ["false", "true"]))
    networks = itertools.cycle(["PublicIp", "PrivateWithNat", "PrivateWithEndpoints"])
    allowed = [
        dict(zip(LOOPS, values))
        for values in itertools.product(["true", "false"], repeat=len(LOOPS))
        if any(v == "true" for name, v in zip(LOOPS, values) if name in CLUSTER_LOOPS)
    ]
    for n, loops in enumerate(allowed):
        dry_run, create = modes[n % len(modes)]
        # A created cluster serves HTTPS with its certificate (the template's rule asks for one).
        created = {"LoadBalancerCertificateArn": CERTIFICATE, "InstanceNetwork": next(networks)} if create == "true" else {}
        yield {**loops, "DryRun": dry_run, "CreateCluster": create, **created}
    on = {name: "true" for name in LOOPS}
    for create in ["false", "true"]:
        yield {**on, "DryRun": "false", "CreateCluster": create, "HealthCheckType": "HTTP_STR_MATCH"}


def main(path: str) -> None:
    template = Path(path).read_text()
    tools = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as out:
        files = []
        for n, values in enumerate(combinations()):
            variant = Path(out) / f"variant-{n:02d}.yaml"
            variant.write_text(with_defaults(template, values))
            files.append(str(variant))
            print(f"variant-{n:02d}: {' '.join(f'{k}={v}' for k, v in values.items())}")
        subprocess.run([tools / "cfn-lint", *files], check=True)
        subprocess.run(
            [tools / "checkov", "--directory", out, "--framework", "cloudformation",
             "--compact", "--quiet", "--skip-download"],
            check=True,
        )
        # The translator does not evaluate conditions: a few runs are enough.
        for variant in files[::8]:
            subprocess.run(
                [tools / "sam", "validate", "--lint", "--region", "us-east-1", "--template", variant],
                check=True, stdout=subprocess.DEVNULL,
            )
    print(f"{len(files)} combinations pass cfn-lint and checkov; {len(files[::8])} sam validate --lint")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")

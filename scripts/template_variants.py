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
    """Each loop alone, each loop off, all on; each in observe mode and with a created cluster;
    an HTTP-only site."""
    on = {name: "true" for name in LOOPS}
    sets = [on]
    for loop in LOOPS:
        sets.append({**on, loop: "false"})
        if loop in CLUSTER_LOOPS:
            sets.append({name: str(name == loop).lower() for name in LOOPS})
    for loops, dry_run, create in itertools.product(sets, ["false", "true"], ["false", "true"]):
        # A created cluster serves HTTPS with its certificate (the template's rule asks for one).
        tls = {"LoadBalancerCertificateArn": CERTIFICATE} if create == "true" else {}
        yield {**loops, "DryRun": dry_run, "CreateCluster": create, **tls}
    # An HTTP-only site, created and existing.
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
        # The translator does not evaluate conditions: one run per set of loops is enough.
        for variant in files[3::4]:
            subprocess.run(
                [tools / "sam", "validate", "--lint", "--region", "us-east-1", "--template", variant],
                check=True, stdout=subprocess.DEVNULL,
            )
    print(f"{len(files)} combinations pass cfn-lint and checkov; {len(files[3::4])} sam validate --lint")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")

"""parliament (Duo Labs' IAM linter) over every function's policy as CloudFormation would resolve
it, in both cluster modes: no finding, or each justified in that function's Metadata under
`PolicyLint` (`<ISSUE> <action>`: why). A justification that matches no finding fails too.

    python scripts/policy_lint.py template.yaml     # the tools venv (parliament)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from parliament import analyze_policy_string

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "emulator"))
from halfhour_emu.stack import TemplateLoader, example, function_binaries  # noqa: E402
import yaml  # noqa: E402


def finding_keys(finding: object) -> list[str]:
    """`<ISSUE> <action>` for each action a parliament finding is about."""
    issue, detail = finding.issue, finding.detail  # type: ignore[attr-defined]
    if isinstance(detail, list):
        actions = [d["action"] if isinstance(d, dict) else str(d) for d in detail]
    else:
        actions = re.findall(r"\b[a-z0-9-]+:[A-Za-z]+\b", str(detail))[-1:] or [str(detail)]
    return [f"{issue} {action}" for action in sorted(set(actions))]


def main(template_path: str) -> int:
    template = yaml.load(Path(template_path).read_text(), Loader=TemplateLoader)
    binaries = {binary: template["Resources"][name] for name, binary in function_binaries(template).items()}
    found: dict[str, set[str]] = {binary: set() for binary in binaries}
    for create_cluster in (False, True):
        for binary, statements in example(template, create_cluster=create_cluster).function_policies().items():
            policy = analyze_policy_string(json.dumps({"Version": "2012-10-17", "Statement": statements}))
            for finding in policy.findings:
                found[binary].update(finding_keys(finding))
    failures = []
    for binary, keys in sorted(found.items()):
        justified = binaries[binary].get("Metadata", {}).get("PolicyLint", {})
        for key in sorted(keys):
            note = justified.get(key)
            print(f"{binary:<11} {key}: {'justified: ' + note if note else 'NOT JUSTIFIED'}")
            if not note:
                failures.append(f"{binary}: parliament finds {key}; fix the policy or justify it under Metadata.PolicyLint")
        for key in sorted(set(justified) - keys):
            failures.append(f"{binary}: justifies {key}, which parliament no longer finds")
    print(f"parliament: {sum(len(k) for k in found.values())} findings over {len(found)} functions, both cluster modes; "
          f"{len(failures)} unjustified or stale")
    for failure in failures:
        print(f"policy lint: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))

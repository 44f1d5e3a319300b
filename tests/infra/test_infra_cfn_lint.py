"""cfn-lint on the synthesized templates: no errors, and no warnings other than the explained ones."""

from __future__ import annotations

from cfnlint.api import ManualArgs, lint_file

from tests.infra.support import Synthesized

# Rule id -> why it is accepted. Anything else cfn-lint reports fails the test.
ACCEPTED_WARNINGS = {
    "W3005": "aws-cdk-lib writes DependsOn on the function's role next to the GetAtt of the same role "
    "(so the role's policy exists before the function); redundant, harmless, not ours to remove.",
}
# Regions the stack is meant for; cfn-lint checks resource and property availability per Region.
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


def test_template_passes_cfn_lint(variant: Synthesized) -> None:
    matches = lint_file(variant.path, ManualArgs(regions=REGIONS))
    unexpected = [
        f"{m.rule.id} {m.message} ({m.path_string})"
        for m in matches
        if m.rule.id not in ACCEPTED_WARNINGS or not m.rule.id.startswith("W")
    ]
    assert unexpected == []

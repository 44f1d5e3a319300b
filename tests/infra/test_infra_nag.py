"""cdk-nag AwsSolutions: nothing unacknowledged, and every acknowledgement is needed and explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks

from tests.infra.support import CDK_JSON_CONTEXT, CONFIGURED_CONTEXT, Synthesized


def describe(violations: Any) -> list[str]:
    return [f"{v.severity} {v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in violations]


def test_no_unacknowledged_findings(variant: Synthesized) -> None:
    report = AwsSolutionsChecks(variant.stack.node.scope).validate_scope(variant.stack)
    # Not only errors: a nag warning also fails synth (the pack reports success only when empty).
    assert describe(report.violations) == []
    assert report.success


@pytest.mark.parametrize(
    "overrides",
    # cloudTrailEvents is on in discovery and off in configured; the last has it with the fan-out.
    [{}, CONFIGURED_CONTEXT, {**CONFIGURED_CONTEXT, "cloudTrailEvents": True}],
    ids=["discovery", "configured", "configured-cloudtrail"],
)
def test_every_acknowledgement_matches_a_finding_and_has_a_reason(
    overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Build the stack with acknowledgements recorded instead of applied, then compare."""
    from aws_cdk import App

    from infra import nag
    from infra.config import MonitorConfig
    from infra.stack import AthenaSessionMonitorStack

    recorded: list[tuple[str, str, str]] = []
    monkeypatch.setattr(nag, "acknowledge", lambda c, rule, reason: recorded.append((c.node.path, rule, reason)))
    app = App(context={**CDK_JSON_CONTEXT, **overrides}, outdir=str(tmp_path))  # assets stage on construction
    stack = AthenaSessionMonitorStack(app, "NagProbe", config=MonitorConfig.from_context(app.node.try_get_context))
    findings = {
        (v.rule_name, r.construct_path)
        for v in AwsSolutionsChecks(app).validate_scope(stack).violations
        for r in v.violating_resources
    }

    assert recorded
    for path, rule, reason in recorded:
        covered = {p for r, p in findings if r == rule and p.startswith(path + "/")}
        assert covered, f"stale acknowledgement {rule} on {path}"
        assert len(reason) >= 60 and reason.rstrip().endswith("."), f"weak reason for {rule}: {reason!r}"
    unacknowledged = {
        (rule, p) for rule, p in findings if not any(rule == r and p.startswith(path + "/") for path, r, _ in recorded)
    }
    assert unacknowledged == set()


def test_acknowledged_rules_are_the_expected_few(discovery: Synthesized) -> None:
    """A new kind of acknowledgement needs a reviewer's look: pin the list."""
    from aws_cdk import Validations

    rules = set()
    for construct in discovery.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                rules |= {key.split("::", 1)[-1].split("[", 1)[0] for key in entry.data}
    assert rules == {"AwsSolutions-IAM5", "AwsSolutions-SQS3", "AwsSolutions-COG4", "AwsSolutions-APIG3"}

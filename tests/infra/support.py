"""Shared helpers of the infrastructure tests: synthesize a variant, read its template."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]

# The opposite of every default that changes the template's shape.
CONFIGURED_CONTEXT: dict[str, Any] = {
    "watchedWorkgroups": ["analytics", "etl-prod"],
    "scheduleMinutes": 10,
    "lookbackMinutes": 25,  # exactly min_lookback_minutes(10): the boundary synthesizes
    "idleAlertMinutes": 30,
    "alertEmail": "ops@example.com",
    "pricePerDpuHour": 0.44,
    "logRetentionDays": 90,
    "reservedConcurrency": 8,
    "sweepFanout": "sqs",
    "sweepMaxWorkers": 4,
    "apiGatewayCloudWatchRole": True,
    "cloudTrailEvents": False,
    "stateChangeEvents": "off",
}


@dataclass
class Synthesized:
    """One synthesized variant of the stack."""

    stack: Any  # AthenaSessionMonitorStack
    config: Any  # MonitorConfig
    template: Any  # aws_cdk.assertions.Template
    data: dict[str, Any]  # the template as JSON
    path: Path  # the template file, for cfn-lint

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.data["Resources"].items() if v["Type"] == resource_type}

    def schedule_rule(self) -> tuple[str, dict[str, Any]]:
        """The sweep schedule's rule (the CloudTrail rule, when there is one, has an event pattern)."""
        (found,) = [
            (k, v) for k, v in self.resources("AWS::Events::Rule").items() if "ScheduleExpression" in v["Properties"]
        ]
        return found

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def policy_statements(self) -> list[dict[str, Any]]:
        """Every statement of every IAM identity policy in the template."""
        statements: list[dict[str, Any]] = []
        for resource in self.data["Resources"].values():
            props = resource.get("Properties", {})
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                statements += as_list(props["PolicyDocument"]["Statement"])
            elif resource["Type"] == "AWS::IAM::Role":
                for policy in props.get("Policies", []):
                    statements += as_list(policy["PolicyDocument"]["Statement"])
        return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """A CloudFormation value as readable text: Ref X -> ${X}, GetAtt X.Y -> ${X.Y}, Join flattened."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref":
            return "${" + arg + "}"
        if name == "Fn::GetAtt":
            return "${" + ".".join(arg) + "}"
        if name == "Fn::Join":
            return arg[0].join(render(item) for item in arg[1])
    return json.dumps(value, sort_keys=True)


def synthesize(outdir: Path, overrides: dict[str, Any]) -> Synthesized:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.config import MonitorConfig
    from infra.constants import STACK_NAME
    from infra.stack import AthenaSessionMonitorStack

    # The same layers as a CLI synth: cdk.json's context (feature flags included), then overrides.
    app = App(context={**CDK_JSON_CONTEXT, **overrides}, outdir=str(outdir))
    config = MonitorConfig.from_context(app.node.try_get_context)
    stack = AthenaSessionMonitorStack(app, STACK_NAME, config=config)
    artifact = app.synth().get_stack_by_name(STACK_NAME)
    data = artifact.template
    return Synthesized(stack, config, Template.from_json(data), data, Path(artifact.template_full_path))

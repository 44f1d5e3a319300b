#!/usr/bin/env python3
"""CDK entry point: configuration in, one stack out, cdk-nag (AwsSolutions) on every synth.

Run through the CDK CLI (`cdk synth`, see cdk.json) or directly (`python app.py`). The CLI passes
cdk.json's context plus any `-c key=value` in CDK_CONTEXT_JSON; run directly, nothing would, so
this file then reads cdk.json's "context" itself and both paths build the same stack.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants
from infra.config import ConfigError, MonitorConfig
from infra.stack import AthenaSessionMonitorStack

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"
# Where the CLI puts context: the variable, or a file named by the second one when it is large.
CLI_CONTEXT_VARIABLES = ("CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV")


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context block, when the CDK CLI did not already pass it in."""
    if any(variable in os.environ for variable in CLI_CONTEXT_VARIABLES):
        return {}
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    return context


def build_app() -> App:
    # Context given to App() is the lowest-precedence layer: anything from the CLI wins.
    app = App(context=cdk_json_context())
    config = MonitorConfig.from_context(app.node.try_get_context)
    AthenaSessionMonitorStack(app, constants.STACK_NAME, config=config)
    # cdk-nag 3 is a policy-validation plugin (Aspects no longer work): synth fails on any
    # finding that is not acknowledged with Validations.of(construct).acknowledge(...).
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> int:
    try:
        app = build_app()
    except ConfigError as error:
        print(f"ConfigError: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())

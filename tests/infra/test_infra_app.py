"""app.py as the CDK CLI and a developer run it: same context either way, readable failures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.support import CDK_JSON_CONTEXT, REPO_ROOT

CLI_VARIABLES = ("CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV")


def run_app(outdir: Path, app: Path = REPO_ROOT / "app.py", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in CLI_VARIABLES and not k.startswith("CDK_")}
    environment.update(CDK_OUTDIR=str(outdir), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", **env)
    return subprocess.run(
        [sys.executable, str(app)], cwd=app.parent, env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    outdir = tmp_path_factory.mktemp("app-direct")
    return run_app(outdir), outdir


def test_python_app_py_synthesizes_cdk_json_context(direct_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, outdir = direct_run
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((outdir / "AthenaSessionMonitor.template.json").read_text())
    resources = template["Resources"].values()
    (rule,) = [r for r in resources if r["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in r["Properties"]]
    (function,) = [r for r in resources if r["Type"] == "AWS::Lambda::Function"]
    assert rule["Properties"]["ScheduleExpression"] == f"rate({CDK_JSON_CONTEXT['scheduleMinutes']} minutes)"
    props = function["Properties"]
    assert props["ReservedConcurrentExecutions"] == CDK_JSON_CONTEXT["reservedConcurrency"]
    variables = props["Environment"]["Variables"]
    assert variables["WATCHED_WORKGROUPS"] == ",".join(CDK_JSON_CONTEXT["watchedWorkgroups"])
    assert variables["LOOKBACK_MINUTES"] == str(CDK_JSON_CONTEXT["lookbackMinutes"])
    assert variables["SCHEDULE_MINUTES"] == str(CDK_JSON_CONTEXT["scheduleMinutes"])
    assert variables["MONITOR_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}
    # cloudTrailEvents is on by default: the follow-up queue's URL and the CloudTrail rule.
    assert CDK_JSON_CONTEXT["cloudTrailEvents"] is True and "FOLLOW_UP_QUEUE_URL" in variables
    patterns = [r["Properties"]["EventPattern"] for r in resources if "EventPattern" in r.get("Properties", {})]
    assert [p["detail-type"] for p in patterns] == [["AWS API Call via CloudTrail"]]
    # cdk-nag ran as a validation plugin and found nothing unacknowledged.
    report = json.loads((outdir / "validation-report.json").read_text())
    assert [r for r in report["pluginReports"] if r.get("conclusion") != "success"] == []


def test_python_app_py_applies_cdk_json_feature_flags(
    direct_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    # @aws-cdk/aws-iam:minimizePolicies (from cdk.json) merges statements that share a resource.
    _result, outdir = direct_run
    assert CDK_JSON_CONTEXT["@aws-cdk/aws-iam:minimizePolicies"] is True
    template = json.loads((outdir / "AthenaSessionMonitor.template.json").read_text())
    statements = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert sum(1 for s in statements if s["Resource"] == "*") == 1


def test_bad_context_fails_with_one_readable_line(tmp_path: Path) -> None:
    result = run_app(tmp_path, CDK_CONTEXT_JSON=json.dumps({"sweepFanout": "kafka"}))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "ConfigError: context key 'sweepFanout' must be one of 'inline', 'sqs'; got 'kafka'"
    )
    assert "Traceback" not in result.stderr


LOOKBACK_TOO_SHORT = (
    "ConfigError: context key 'lookbackMinutes' must be at least 2 x scheduleMinutes + 5 = 25 "
    "(scheduleMinutes is 10); got 15"
)


def test_python_app_py_refuses_a_cdk_json_lookback_shorter_than_two_sweeps(tmp_path: Path) -> None:
    # app.py reads the cdk.json next to it: run a copy beside a cdk.json whose interval outgrew its look-back.
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO_ROOT / "app.py", project / "app.py")
    cdk_json = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    cdk_json["context"] = {**CDK_JSON_CONTEXT, "scheduleMinutes": 10, "lookbackMinutes": 15}
    (project / "cdk.json").write_text(json.dumps(cdk_json), encoding="utf-8")
    result = run_app(tmp_path / "out", app=project / "app.py", PYTHONPATH=str(REPO_ROOT))
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == LOOKBACK_TOO_SHORT
    assert "Traceback" not in result.stderr


def test_cli_context_with_a_lookback_shorter_than_two_sweeps_is_refused(tmp_path: Path) -> None:
    # What `cdk synth -c scheduleMinutes=10` passes: cdk.json's context merged with the string override.
    result = run_app(tmp_path, CDK_CONTEXT_JSON=json.dumps({**CDK_JSON_CONTEXT, "scheduleMinutes": "10"}))
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == LOOKBACK_TOO_SHORT
    assert "Traceback" not in result.stderr


def test_cli_context_replaces_the_cdk_json_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import app

    for variable in CLI_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert app.cdk_json_context() == CDK_JSON_CONTEXT
    # The CLI already merged cdk.json and -c overrides into CDK_CONTEXT_JSON (which App reads
    # with precedence); reading cdk.json again would only add a stale lower layer.
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"scheduleMinutes": 15}))
    assert app.cdk_json_context() == {}
    monkeypatch.delenv("CDK_CONTEXT_JSON")
    monkeypatch.setenv("CONTEXT_OVERFLOW_LOCATION_ENV", "/tmp/context.json")
    assert app.cdk_json_context() == {}

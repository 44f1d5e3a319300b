"""One source for every name the stack, the function, local mode and bench share."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.session

import session_contract as contract

REPO = Path(__file__).resolve().parents[2]


def test_the_contract_imports_neither_side():
    source = (REPO / "lambda_src/session_contract/__init__.py").read_text()
    imports = re.findall(r"^\s*(?:from|import) ([\w.]+)", source, re.MULTILINE)
    assert set(imports) <= {"__future__", "collections.abc", "dataclasses", "typing"}


def test_states_and_workgroup_pattern_match_botocores_service_model():
    model = botocore.session.get_session().get_service_model("athena")
    assert tuple(model.shape_for("SessionState").enum) == contract.SESSION_STATES
    assert model.shape_for("WorkGroupName").metadata["pattern"] == contract.WORKGROUP_PATTERN
    assert model.shape_for("SessionId").metadata["max"] == contract.SESSION_ID_MAX_LENGTH


def test_infra_and_the_function_share_defaults_and_ranges():
    from infra.config import MonitorConfig
    from session_monitor.config import Settings

    stack, function = MonitorConfig(), Settings.from_env({})
    for name in ("lookback_minutes", "idle_alert_minutes", "price_per_dpu_hour", "sweep_max_workers"):
        assert getattr(stack, name) == getattr(function, name), name
    free = MonitorConfig.from_context({"pricePerDpuHour": 0})  # both accept 0: estimate off
    assert free.price_per_dpu_hour == Settings.from_env({"PRICE_PER_DPU_HOUR": "0"}).price_per_dpu_hour == 0


def test_local_mode_and_bench_build_the_functions_environment_from_the_contract(monkeypatch):
    """Spy on the contract's builder: each consumer must call it, not carry a copy."""
    from bench import common
    from local_mode import runner
    from local_mode.moto_server import AlertingResources

    calls: list[dict] = []
    real = contract.function_environment

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(contract, "function_environment", spy)
    resources = AlertingResources(None, "arn:aws:sns:us-east-1:123456789012:t", "table", "queue")
    local = runner.function_environment("http://127.0.0.1:1", "http://127.0.0.1:2", resources)
    bench = common.lambda_env(Path("/tmp/asset"), Path("/tmp/site"))
    assert len(calls) == 2
    names = set(real(topic_arn="t", table_name="t", account_id="a"))
    assert names <= set(local) and names - {contract.ENV_ALERTS_TOPIC_ARN, contract.ENV_STATE_TABLE_NAME} <= set(bench)


def test_no_copy_of_a_shared_name_outside_the_contract():
    """The names an environment or a dashboard depends on are written out in one file only."""
    shared = [
        contract.ENV_LOOKBACK_MINUTES,
        contract.ENV_SCHEDULE_MINUTES,
        contract.ENV_WATCHED_WORKGROUPS,
        contract.ENV_MONITOR_ACCOUNT_ID,
        contract.METRIC_SESSIONS_SEEN,
        contract.METRIC_ALERTS_PUBLISHED,
        contract.WORKGROUP_PATTERN,
    ]
    places = [
        *REPO.glob("lambda_src/session_monitor/**/*.py"),
        *REPO.glob("infra/*.py"),
        *REPO.glob("local_mode/*.py"),
        *REPO.glob("bench/*.py"),
        REPO / "app.py",
    ]
    for path in places:
        text = path.read_text()
        for name in shared:
            assert f'"{name}"' not in text and f'r"{name}"' not in text, f"{path.relative_to(REPO)} copies {name}"

"""Normalisation of GetSession and ListSessions answers into the documented model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil.tz import tzoffset

from session_monitor.model import ALL_STATES, session_from_get, summary_from_list
from tests.helpers import NOW, get_session_response

EXPECTED_SEVERITY = {"FAILED": "critical", "DEGRADED": "warning", "TERMINATED": "info"}


def test_the_model_knows_every_state_of_the_service_model():
    import botocore.session

    model = botocore.session.get_session().get_service_model("athena")
    assert set(ALL_STATES) == set(model.shape_for("SessionState").enum)


@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_gets_its_severity_and_terminal_flag(state):
    session = session_from_get(get_session_response(state=state), 0.35)
    assert session.state == state
    assert session.severity == EXPECTED_SEVERITY.get(state)
    assert session.is_terminal is (state in ("TERMINATED", "FAILED"))


def test_a_complete_answer_is_normalised_field_by_field():
    raw = get_session_response(
        "abc-123",
        "FAILED",
        "etl",
        started=NOW - timedelta(hours=2),
        modified=NOW - timedelta(minutes=5),
        reason="Coordinator lost",
        dpu_ms=5_400_000,
    )
    session = session_from_get(raw, 0.35).to_dict()
    assert session == {
        "session_id": "abc-123",
        "workgroup": "etl",
        "state": "FAILED",
        "state_change_reason": "Coordinator lost",
        "description": "notebook session abc-123",
        "engine_version": "PySpark engine version 3",
        "notebook_version": "Athena notebook version 1",
        "started_at": "2026-11-26T10:00:00Z",
        "last_modified_at": "2026-11-26T11:55:00Z",
        "ended_at": "2026-11-26T11:55:00Z",
        "idle_since": None,
        "is_terminal": True,
        "severity": "critical",
        "dpu_execution_ms": 5_400_000,
        "dpu_hours": 1.5,
        "estimated_cost_usd": 0.525,
        "price_per_dpu_hour_usd": 0.35,
        "engine_configuration": {
            "coordinator_dpu_size": 1,
            "max_concurrent_dpus": 20,
            "default_executor_dpu_size": 1,
            "additional_configs": {"NotebookFileURI": "s3://bucket/notebook.ipynb"},
            "spark_properties": {"spark.sql.shuffle.partitions": "64"},
            "classifications": [{"name": "spark-defaults", "properties": {"spark.executor.cores": "4"}}],
        },
        "idle_timeout_minutes": 20,
        "working_directory": "s3://bucket/athena/sessions/",
        "encryption_option": "SSE_KMS",
    }


def test_the_execution_role_and_kms_key_never_reach_the_model():
    text = str(session_from_get(get_session_response(), 0.35).to_dict())
    assert "AthenaSparkRole" not in text and "1234abcd" not in text


def test_every_optional_member_missing_means_null_not_an_error():
    session = session_from_get({}, 0.35).to_dict()
    assert session["session_id"] == ""
    assert session["state"] is None and session["severity"] is None and session["is_terminal"] is False
    for key in (
        "workgroup",
        "started_at",
        "ended_at",
        "idle_since",
        "dpu_execution_ms",
        "dpu_hours",
        "estimated_cost_usd",
        "engine_configuration",
        "idle_timeout_minutes",
        "working_directory",
        "encryption_option",
        "description",
        "engine_version",
        "notebook_version",
    ):
        assert session[key] is None, key


def test_only_a_session_id_and_a_state():
    session = session_from_get({"SessionId": "x", "Status": {"State": "BUSY"}}, 0.35)
    assert (session.session_id, session.state, session.severity, session.dpu_hours) == ("x", "BUSY", None, None)


def test_unknown_members_and_wrong_types_are_ignored():
    raw = get_session_response(state="DEGRADED")
    raw["FutureMember"] = {"Anything": [1, 2]}
    raw["Status"]["FutureTime"] = NOW
    raw["Statistics"] = {"DpuExecutionInMillis": "lots"}
    raw["EngineConfiguration"] = ["not", "a", "dict"]
    raw["SessionConfiguration"]["IdleTimeoutSeconds"] = None
    raw["SessionConfiguration"].pop("SessionIdleTimeoutInMinutes")
    session = session_from_get(raw, 0.35)
    assert session.state == "DEGRADED"
    assert session.dpu_execution_ms is None and session.estimated_cost_usd is None
    assert session.engine_configuration is None and session.idle_timeout_minutes is None


def test_idle_timeout_falls_back_to_seconds():
    raw = get_session_response()
    raw["SessionConfiguration"].pop("SessionIdleTimeoutInMinutes")
    raw["SessionConfiguration"]["IdleTimeoutSeconds"] = 3600
    assert session_from_get(raw, 0.35).idle_timeout_minutes == 60


def test_times_are_converted_to_utc_whatever_zone_botocore_attached():
    raw = {
        "SessionId": "x",
        "Status": {
            "StartDateTime": datetime(2026, 11, 26, 14, 0, tzinfo=tzoffset(None, 7200)),
            "LastModifiedDateTime": datetime(2026, 11, 26, 12, 0),
        },
    }
    session = session_from_get(raw, 0.35)
    assert session.started_at == "2026-11-26T12:00:00Z"
    assert session.last_modified_at == "2026-11-26T12:00:00Z"


def test_cost_follows_the_configured_price():
    raw = get_session_response(dpu_ms=36_000_000)  # 10 DPU-hours
    assert session_from_get(raw, 0.44).estimated_cost_usd == 4.4


def test_a_list_summary_takes_the_effective_engine_version_and_the_workgroup_asked_for():
    raw = {
        "SessionId": "s",
        "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "PySpark engine version 3"},
        "Status": {"State": "IDLE", "IdleSinceDateTime": NOW.replace(tzinfo=UTC)},
    }
    summary = summary_from_list(raw, "analytics")
    assert summary.workgroup == "analytics"
    assert summary.engine_version == "PySpark engine version 3"
    assert summary.idle_since == "2026-11-26T12:00:00Z"


def test_credentials_in_every_user_supplied_map_are_redacted_and_the_rest_kept():
    raw = get_session_response()
    configuration = raw["EngineConfiguration"]
    configuration["AdditionalConfigs"]["apiToken"] = "tok-123"
    configuration["SparkProperties"]["spark.hadoop.fs.s3a.secret.key"] = "wJalrXUtnFEMI"
    configuration["SparkProperties"]["spark.sql.catalog.pg.uri"] = "postgresql://etl:pw@db/sales"
    configuration["Classifications"].append(
        {"Name": "spark-hive-site", "Properties": {"javax.jdo.option.ConnectionPassword": "hive-pw"}}
    )
    engine = session_from_get(raw, 0.35).to_dict()["engine_configuration"]
    assert engine["additional_configs"] == {
        "NotebookFileURI": "s3://bucket/notebook.ipynb",
        "apiToken": "***redacted***",
    }
    assert engine["spark_properties"] == {
        "spark.sql.shuffle.partitions": "64",
        "spark.hadoop.fs.s3a.secret.key": "***redacted***",
        "spark.sql.catalog.pg.uri": "postgresql://***redacted***@db/sales",
    }
    assert engine["classifications"] == [
        {"name": "spark-defaults", "properties": {"spark.executor.cores": "4"}},
        {"name": "spark-hive-site", "properties": {"javax.jdo.option.ConnectionPassword": "***redacted***"}},
    ]

"""Fixed alerts the delivery tests share: the README's FAILED session, and a DEGRADED one whose
free text exercises JSON escaping (quotes, backslashes, non-ASCII, a control character).

Plain data first (GetSession answers as botocore returns them, and the episode), so that
``tests/events/alert_document.json`` could be generated from HEAD's ``alerting.py`` and
``model.py`` with the same inputs; ``alert(name)`` builds the Alert with today's code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.helpers import engine_configuration

ACCOUNT, REGION = "123456789012", "us-east-1"
PRICE = 0.35

_README_ID = "7cc5b9a4-0d2f-4b8e-9a3c-5e1f2d6b8a90"
_README_END = datetime(2026, 11, 28, 9, 41, 26, tzinfo=UTC)
_TRICKY_ID = "b2d6e1f0-5a4c-4e9b-8f21-3c7d9a0e6b15"
_TRICKY_SINCE = datetime(2026, 11, 28, 10, 2, 3, tzinfo=UTC)


def _configuration() -> dict[str, Any]:
    return {
        "ExecutionRole": "arn:aws:iam::123456789012:role/AthenaSparkRole",
        "WorkingDirectory": "s3://bucket/athena/sessions/",
        "IdleTimeoutSeconds": 1200,
        "SessionIdleTimeoutInMinutes": 20,
        "EncryptionConfiguration": {
            "EncryptionOption": "SSE_KMS",
            "KmsKey": "arn:aws:kms:us-east-1:123456789012:key/k",
        },
    }


def get_session_answers() -> dict[str, dict[str, Any]]:
    """name -> a GetSession answer (datetimes as botocore gives them)."""
    return {
        "readme_failed": {
            "SessionId": _README_ID,
            "Description": "nightly feature build",
            "WorkGroup": "etl",
            "EngineVersion": "PySpark engine version 3",
            "EngineConfiguration": engine_configuration(),
            "NotebookVersion": "Athena notebook version 1",
            "SessionConfiguration": _configuration(),
            "Status": {
                "StartDateTime": datetime(2026, 11, 28, 8, 5, 26, tzinfo=UTC),
                "LastModifiedDateTime": _README_END,
                "EndDateTime": _README_END,
                "State": "FAILED",
                "StateChangeReason": "Session failed: the coordinator ran out of memory",
            },
            "Statistics": {"DpuExecutionInMillis": 23_040_000},
        },
        "tricky_degraded": {
            "SessionId": _TRICKY_ID,
            "Description": 'Café "nightly" C:\\tmp\\x & <ops>\ttabbed',
            "WorkGroup": "ml-training",
            "EngineVersion": "PySpark engine version 3",
            "EngineConfiguration": {
                **engine_configuration(),
                "SparkProperties": {"spark.driver.extraJavaOptions": "-Dx=\\\\y"},
            },
            "NotebookVersion": "Athena notebook version 1",
            "SessionConfiguration": _configuration(),
            "Status": {
                "StartDateTime": datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC),
                "LastModifiedDateTime": _TRICKY_SINCE,
                "State": "DEGRADED",
                "StateChangeReason": 'Coordinator \u2192 unhealthy: "no heartbeat" \\ retrying\x07',
            },
            "Statistics": {"DpuExecutionInMillis": 1_234_567},
        },
    }


def episodes() -> dict[str, tuple[str, str, datetime, bool]]:
    """name -> (state, token, began, began_known) of the alert's episode."""
    return {
        "readme_failed": ("FAILED", "END", _README_END, True),
        "tricky_degraded": ("DEGRADED", "20261128T100203Z", _TRICKY_SINCE, True),
    }


def alert(name: str) -> Any:
    """The Alert for one example, built with the working tree's code."""
    from session_monitor.alerting import Alert
    from session_monitor.ledger import Episode
    from session_monitor.model import session_from_get

    session = session_from_get(get_session_answers()[name], PRICE)
    state, token, began, known = episodes()[name]
    return Alert(session, Episode(session.session_id, state, token, began, known), ACCOUNT, REGION)

"""Athena access: GetSession, ListSessions, ListWorkGroups, with errors translated to ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from ..errors import (
    AthenaAccessDenied,
    AthenaThrottled,
    AthenaTimeout,
    AthenaUnavailable,
    InvalidParameter,
    SessionMonitorError,
    SessionNotFound,
    WorkgroupNotFound,
)
from . import aws_errors, clients

T = TypeVar("T")
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"})
SPARK_ENGINE_PREFIX = "PySpark"  # Spark workgroups run "PySpark engine version 3"; SQL ones "Athena engine ..."


def _call(
    operation: Callable[[], T], not_found: Callable[[ClientError], SessionMonitorError], action: str, resource: str
) -> T:
    """Run one Athena call; every failure leaves as a named error (``action`` on ``resource``)."""
    try:
        return operation()
    except (ReadTimeoutError, ConnectTimeoutError) as error:
        raise AthenaTimeout("Athena did not answer in time") from error
    except (EndpointConnectionError, ConnectionClosedError) as error:
        raise AthenaUnavailable("Athena could not be reached") from error
    except (ClientError, BotoCoreError) as error:
        raise _translate(error, not_found, action, resource) from None


def _translate(
    error: Exception, not_found: Callable[[ClientError], SessionMonitorError], action: str, resource: str
) -> SessionMonitorError:
    # Our messages only: AWS's own text can carry ARNs and account ids.
    shared = aws_errors.named(error, action, resource, AthenaAccessDenied)
    if shared is not None:
        return shared
    if not isinstance(error, ClientError):
        return AthenaUnavailable(f"Athena could not be called ({type(error).__name__})")
    code = aws_errors.error_code(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("ResourceNotFoundException", "InvalidRequestException"):
        return not_found(error)
    if code in THROTTLING_CODES:
        return AthenaThrottled("Athena is throttling requests; retry later")
    if code == "InternalServerException" or status >= 500:
        return AthenaUnavailable("Athena had an internal error; retry later")
    return AthenaUnavailable(f"Athena answered an unexpected error ({code or status})")


def get_session(session_id: str) -> dict[str, Any]:
    """The raw GetSession answer. Unknown ids raise SessionNotFound (AWS may say either code)."""
    return _call(
        lambda: clients.client("athena").get_session(SessionId=session_id),
        lambda _error: SessionNotFound("session not found"),
        "athena:GetSession",
        f"session {session_id}",
    )


def list_sessions(
    workgroup: str, next_token: str | None = None, max_results: int = 100, state_filter: str | None = None
) -> dict[str, Any]:
    """One page of ListSessions (boto3 has no paginator for it), optionally of one state only."""
    kwargs: dict[str, Any] = {"WorkGroup": workgroup, "MaxResults": max_results}
    if state_filter:
        kwargs["StateFilter"] = state_filter
    if next_token:
        kwargs["NextToken"] = next_token

    def not_found(error: ClientError) -> SessionMonitorError:
        if next_token and error.response.get("Error", {}).get("Code") == "InvalidRequestException":
            return InvalidParameter("next_token is not valid for this workgroup (it may have expired)")
        return WorkgroupNotFound("workgroup not found")

    return _call(
        lambda: clients.client("athena").list_sessions(**kwargs),
        not_found,
        "athena:ListSessions",
        f"workgroup {workgroup}",
    )


def list_spark_workgroups() -> list[str]:
    """Names of the enabled workgroups whose engine is Spark (for sweeps with no configured list)."""
    names: list[str] = []

    def collect() -> list[str]:
        kwargs: dict[str, Any] = {"MaxResults": 50}
        while True:  # boto3 has no paginator for ListWorkGroups either
            page = clients.client("athena").list_work_groups(**kwargs)
            for workgroup in page.get("WorkGroups", []):
                engine = workgroup.get("EngineVersion", {})
                version = engine.get("EffectiveEngineVersion") or engine.get("SelectedEngineVersion") or ""
                if workgroup.get("State", "ENABLED") == "ENABLED" and version.startswith(SPARK_ENGINE_PREFIX):
                    names.append(workgroup["Name"])
            if not page.get("NextToken"):
                return names
            kwargs["NextToken"] = page["NextToken"]

    return _call(collect, lambda _error: AthenaUnavailable("could not list workgroups"), "athena:ListWorkGroups", "*")

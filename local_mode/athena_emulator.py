"""Local emulator of the Amazon Athena session API (Athena for Apache Spark).

Test and demo infrastructure only: moto has no Athena session API, so this module answers
StartSession, GetSession, GetSessionStatus, ListSessions, TerminateSession and ListWorkGroups
over Athena's AWS JSON 1.1 protocol. A real boto3 client pointed at ``EmulatorServer.endpoint_url``
(or env ``AWS_ENDPOINT_URL_ATHENA``) works unchanged.

Faithfulness rules:
- every request is checked against botocore's input shape, every response (and modelled error
  body) against the output shape, with ``botocore.validate.ParamValidator`` plus the constraints
  it skips (max, enum, pattern). A response that drifts from the model raises
  ``ResponseShapeError``: a shape drift must fail tests, never pass silently.
- errors use the JSON protocol form: status 400/500 and body ``{"__type", "Message", ...}``.
  Athena's InvalidRequestException carries ``AthenaErrorCode`` and an unmodelled ``ErrorCode``
  copy of it, and no ``x-amzn-ErrorType`` header (as captured from the real service;
  ``error_type_header=True`` adds the header for clients that want it).
- lifecycle is computed from ``Clock`` (advanced explicitly), never from ``time.sleep``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import dataclasses
import functools
import itertools
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from local_mode.athena_wire import (
    AthenaError,
    EmulatorServer,
    ResponseShapeError,
    invalid_request,
    service_model,
    validate_request,
    validate_response,
)

__all__ = [
    "FIXED_START",
    "OMITTABLE_STATUS_MEMBERS",
    "SPARK_ENGINE",
    "SQL_ENGINE",
    "TERMINATED_PER_REQUEST",
    "AthenaEmulator",
    "AthenaError",
    "Clock",
    "EmulatorServer",
    "ResponseShapeError",
    "omittable_status_members",
    "validate_request",
    "validate_response",
]

SPARK_ENGINE = "PySpark engine version 3"
SQL_ENGINE = "Athena engine version 3"
NOTEBOOK_VERSION = "Athena notebook version 1"
TERMINATED_PER_REQUEST = "Session was terminated per request"
FINISHED = frozenset({"TERMINATED", "FAILED"})
# From botocore's service model, not from the monitor's contract: the emulator stands for Athena,
# so the monitor's own names are checked against it (tests/unit/test_contract.py).
STATES = tuple(service_model().shape_for("SessionState").enum)
WORKGROUP_NAME = re.compile(service_model().shape_for("WorkGroupName").metadata["pattern"])
OPERATIONS = ("StartSession", "GetSession", "GetSessionStatus", "ListSessions", "TerminateSession", "ListWorkGroups")
FIXED_START = datetime(2025, 1, 6, 9, 0, 0, tzinfo=UTC)
FAULT_KINDS = ("throttle", "internal", "slow", "not_found", "access_denied")
# The caller an access_denied fault names (an assumed role and its session, as Lambda's are).
DENIED_ROLE = "athena-session-monitor-role/athena-session-monitor"
# SessionStatus members the omit_timestamps options may leave out (State is never left out).
OMITTABLE_STATUS_MEMBERS = (
    "StartDateTime",
    "LastModifiedDateTime",
    "EndDateTime",
    "IdleSinceDateTime",
    "StateChangeReason",
)


@functools.lru_cache(maxsize=1)
def omittable_status_members() -> frozenset[str]:
    """OMITTABLE_STATUS_MEMBERS less any that botocore's SessionStatus shape requires (none,
    today): the emulator only leaves out what the model allows to be absent."""
    required = service_model().shape_for("SessionStatus").required_members
    return frozenset(OMITTABLE_STATUS_MEMBERS) - set(required)


def _checked_omissions(names: Iterable[str]) -> frozenset[str]:
    """``names`` as a frozenset; ValueError unless each is an omittable SessionStatus member."""
    if isinstance(names, str):
        raise ValueError(f"pass a set of SessionStatus member names, not the string {names!r}")
    names = frozenset(names)
    unknown = names - omittable_status_members()
    if unknown:
        raise ValueError(
            f"cannot omit {sorted(unknown)} from SessionStatus; omittable: {sorted(omittable_status_members())}"
        )
    return names


# --- clock and sessions --------------------------------------------------------------------


class Clock:
    """A controllable UTC clock. ``now()`` stays put until ``advance(seconds)`` moves it.

    ``start=None`` starts at the real current time (whole seconds), so demo timestamps look
    current; tests pass a fixed start (``FIXED_START``) for reproducible output."""

    def __init__(self, start: datetime | None = None):
        if start is None:
            start = datetime.now(UTC).replace(microsecond=0)
        if start.tzinfo is None:
            raise ValueError("Clock start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


@dataclasses.dataclass
class _Workgroup:
    name: str
    spark: bool
    description: str
    created: datetime
    execution_role: str


@dataclasses.dataclass
class _Session:
    id: str
    seq: int
    workgroup: str
    started: datetime
    request: dict  # the validated StartSession input
    idle_timeout_minutes: int
    dpus: int
    steps: list  # pending (at, state, reason) steps, oldest first
    state: str = "CREATING"
    reason: str | None = None
    modified: datetime | None = None
    idle_since: datetime | None = None
    end: datetime | None = None
    terminate_at: datetime | None = None

    def settle(self, now: datetime) -> None:
        """Apply every step due by ``now`` at its own time: scripted steps, the end of a
        termination, and the idle timeout (IdleSinceDateTime + SessionIdleTimeoutInMinutes)."""
        while self.state not in FINISHED:
            due = []
            if self.steps and self.steps[0][0] <= now:
                due.append(self.steps[0] + ("step",))
            if self.terminate_at is not None and self.terminate_at <= now:
                due.append((self.terminate_at, "TERMINATED", TERMINATED_PER_REQUEST, "stop"))
            if self.state == "IDLE":
                deadline = self.idle_since + timedelta(minutes=self.idle_timeout_minutes)
                if deadline <= now:  # an idle-timeout stop reads exactly like a manual one
                    due.append((deadline, "TERMINATED", TERMINATED_PER_REQUEST, "idle"))
            if not due:
                return
            at, state, reason, source = min(due, key=lambda d: d[0])
            if source == "step":
                self.steps.pop(0)
            self.move(at, state, reason)

    def move(self, at: datetime, state: str, reason: str | None) -> None:
        """Enter ``state`` at ``at`` with StateChangeReason ``reason`` (None: none).

        Same state and same reason: nothing changes (LastModifiedDateTime included). Same state,
        another reason: the reason and LastModifiedDateTime change, nothing else; an IDLE session
        stays idle since the same moment, so its idle timeout is not pushed back. Any other
        move sets LastModifiedDateTime; entering TERMINATED or FAILED sets EndDateTime."""
        if state == "TERMINATED" and reason is None:
            reason = TERMINATED_PER_REQUEST
        if (state, reason) == (self.state, self.reason):
            return
        if state != "IDLE":
            self.idle_since = None
        elif self.state != "IDLE":
            self.idle_since = at
        self.state, self.reason, self.modified = state, reason, at
        if state in FINISHED:
            self.end, self.steps, self.terminate_at = at, [], None

    def status(self, omit: frozenset[str] = frozenset()) -> dict:
        """The SessionStatus structure, without the members named in ``omit``."""
        status = {
            "StartDateTime": self.started,
            "LastModifiedDateTime": self.modified,
            "State": self.state,
            "EndDateTime": self.end,
            "IdleSinceDateTime": self.idle_since,
            "StateChangeReason": self.reason or None,
        }
        return {name: value for name, value in status.items() if value is not None and name not in omit}

    def dpu_millis(self, now: datetime) -> int:
        """DpuExecutionInMillis model: the session holds its DPUs (MaxConcurrentDpus) from
        StartDateTime until EndDateTime (or now, while it runs), whatever its state, so the
        value is running milliseconds x DPUs: 1 hour at 20 DPUs = 72,000,000 (20 DPU-hours)."""
        elapsed = (self.end or now) - self.started
        return int(elapsed.total_seconds() * 1000) * self.dpus


class AthenaEmulator:
    """In-memory Athena session service. Thread-safe; all times come from ``clock``.

    ListSessions, what AWS documents: it lists sessions "in an active state like CREATING,
    CREATED, IDLE, or BUSY", newest first; its StateFilter accepts every state. The emulator
    lists, unfiltered, every session not yet TERMINATED or FAILED, newest first (StartDateTime,
    then creation order). Assumed, not documented:
    - DEGRADED and TERMINATING sessions are in the unfiltered listing: both still exist and hold
      DPUs, and a monitor must be able to find a DEGRADED one.
    - with StateFilter, the listing returns the sessions in that state, finished ones
      (TERMINATED, FAILED) included, in the same order. ``filtered_lists_finished=False``
      emulates the other possible answer: the filter only narrows the unfiltered listing, so
      finished sessions are not listed (unless ``list_finished_sessions``).
    - ``list_finished_sessions=True`` puts finished sessions in the unfiltered listing too, to
      emulate accounts where they show up.
    Optional members: every SessionStatus member is optional in botocore's model, and a client
    must cope with any being absent. ``omit_timestamps`` names members (any of
    OMITTABLE_STATUS_MEMBERS: StartDateTime, LastModifiedDateTime, EndDateTime,
    IdleSinceDateTime, StateChangeReason) left out of every Status (GetSession,
    GetSessionStatus, ListSessions); ``omit_timestamps_in_listings`` leaves them out of
    ListSessions summaries only (an entry lacking LastModifiedDateTime while GetSession has
    it). Both are plain attributes, settable mid-scenario; a name that may not be left out
    raises ValueError here and ResponseShapeError when a later assignment is used.
    The SQL workgroup "primary" exists from the start, as in every real account.
    ``not_found_code`` is the error for an unknown
    session id (AWS does not document it): InvalidRequestException or ResourceNotFoundException.
    ``calls`` counts wire requests per operation (the Python API does not count).
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        list_finished_sessions: bool = False,
        filtered_lists_finished: bool = True,
        omit_timestamps: frozenset[str] | set[str] = frozenset(),
        omit_timestamps_in_listings: frozenset[str] | set[str] = frozenset(),
        not_found_code: str = "InvalidRequestException",
        startup_seconds: float = 6.0,
        terminate_seconds: float = 4.0,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        with_primary_workgroup: bool = True,
        error_type_header: bool = False,
    ):
        if not_found_code not in ("InvalidRequestException", "ResourceNotFoundException"):
            raise ValueError(f"unsupported not_found_code {not_found_code!r}")
        self.clock = clock or Clock()
        self.list_finished_sessions = list_finished_sessions
        self.filtered_lists_finished = filtered_lists_finished
        self.omit_timestamps = _checked_omissions(omit_timestamps)
        self.omit_timestamps_in_listings = _checked_omissions(omit_timestamps_in_listings)
        self.not_found_code = not_found_code
        self.startup_seconds, self.terminate_seconds = startup_seconds, terminate_seconds
        self.account_id, self.region = account_id, region
        self.error_type_header = error_type_header
        self.calls: collections.Counter = collections.Counter()
        self.shape_errors: list[str] = []  # every ResponseShapeError raised, for test teardown
        self._lock = threading.RLock()
        self._workgroups: dict[str, _Workgroup] = {}
        self._sessions: dict[str, _Session] = {}
        self._tokens: dict[str, str] = {}
        self._faults: list[dict] = []
        # CloudTrail's record of each StartSession/TerminateSession call, oldest first (drain_trail).
        self.trail: list[dict] = []
        self._seq = itertools.count()
        if with_primary_workgroup:  # every real account has the SQL workgroup "primary"
            self.add_workgroup("primary", spark=False)

    # -- Python API --

    def add_workgroup(
        self, name: str, spark: bool = True, description: str | None = None, execution_role: str | None = None
    ) -> None:
        if not WORKGROUP_NAME.fullmatch(name):
            raise ValueError(f"invalid workgroup name {name!r}")
        role = execution_role or f"arn:aws:iam::{self.account_id}:role/AthenaSparkExecution"
        with self._lock:
            self._workgroups[name] = _Workgroup(
                name, spark, description if description is not None else "", self.clock.now(), role
            )

    def start_session(
        self,
        workgroup: str,
        description: str | None = None,
        idle_timeout_minutes: int = 20,
        dpus: int = 20,
        script: Iterable[tuple[float, str, str | None]] | None = None,
        **start_session_params: Any,
    ) -> str:
        """Start a session the way StartSession does (same validation, same code path).

        ``script``: (seconds_after_start, state, reason) steps that drive the lifecycle instead
        of the default CREATING -> CREATED -> IDLE over ``startup_seconds``. The idle timeout and
        TerminateSession still apply. Extra keyword arguments are StartSession parameters."""
        params = {
            "WorkGroup": workgroup,
            "SessionIdleTimeoutInMinutes": idle_timeout_minutes,
            "EngineConfiguration": {"CoordinatorDpuSize": 1, "MaxConcurrentDpus": dpus, "DefaultExecutorDpuSize": 1},
            **start_session_params,
        }
        if description is not None:
            params["Description"] = description
        validate_request("StartSession", params)
        return self._start_session(params, script)["SessionId"]

    def terminate_session(self, session_id: str) -> str:
        return self._terminate_session({"SessionId": session_id})["State"]

    def get_session(self, session_id: str) -> dict:
        return self._get_session({"SessionId": session_id})

    def inject_fault(
        self,
        session_id: str | None = None,
        workgroup: str | None = None,
        operation: str | None = None,
        kind: str = "throttle",
        times: int | None = 1,
        delay_seconds: float = 0.0,
    ) -> None:
        """The next ``times`` matching calls (None: all) fail: throttle -> 400
        ThrottlingException "Rate exceeded"; internal -> 500 InternalServerException;
        not_found -> the unknown-id error; access_denied -> 400 AccessDeniedException, IAM's
        "User: ... is not authorized to perform: athena:<Operation>" (a role missing a
        permission); slow -> answer normally after ``delay_seconds`` of real time.
        ``delay_seconds`` also delays the other kinds."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if operation is not None and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        with self._lock:
            self._faults.append(
                {
                    "session_id": session_id,
                    "workgroup": workgroup,
                    "operation": operation,
                    "kind": kind,
                    "times": times,
                    "delay_seconds": float(delay_seconds),
                }
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- the wire entry point --

    def handle(self, operation: str, params: dict) -> dict:
        """Answer one protocol request: count it, apply faults, validate input and output.
        Returns the response dict (datetimes, not yet serialised) or raises AthenaError."""
        if operation not in OPERATIONS:
            raise AthenaError("com.amazon.coral.service#UnknownOperationException", "", 400)
        with self._lock:
            self.calls[operation] += 1
            fault = self._take_fault(operation, params)
        if fault is not None:
            if fault["delay_seconds"]:
                time.sleep(fault["delay_seconds"])
            error = self._fault_error(fault["kind"], operation, params)
            if error is not None:
                raise error
        validate_request(operation, params)
        answer = {
            "StartSession": self._start_session,
            "GetSession": self._get_session,
            "GetSessionStatus": self._get_session_status,
            "ListSessions": self._list_sessions,
            "TerminateSession": self._terminate_session,
            "ListWorkGroups": self._list_work_groups,
        }[operation]
        try:
            response = answer(params)
            validate_response(operation, response)
        except ResponseShapeError as err:
            self.shape_errors.append(str(err))
            raise
        return response

    def _fault_error(self, kind: str, operation: str, params: dict) -> AthenaError | None:
        """The error a fault of ``kind`` answers with (None: "slow" answers normally)."""
        if kind == "throttle":
            return AthenaError("ThrottlingException", "Rate exceeded", 400)
        if kind == "internal":
            return AthenaError("InternalServerException", "Internal error", 500)
        if kind == "not_found":
            return (
                self._unknown_session(str(params["SessionId"])) if "SessionId" in params else self._unknown_workgroup()
            )
        if kind == "access_denied":
            return self._access_denied(operation, params)
        return None

    def _access_denied(self, operation: str, params: dict) -> AthenaError:
        """IAM's refusal, worded as AWS words it: the caller, the action and (when the call names
        a workgroup, or a session the emulator knows) the workgroup's ARN."""
        with self._lock:
            session = self._sessions.get(params.get("SessionId", ""))
            workgroup = params.get("WorkGroup") or (session.workgroup if session else None)
        action = f"athena:{operation}"
        resource = (
            f" on resource: arn:aws:athena:{self.region}:{self.account_id}:workgroup/{workgroup}" if workgroup else ""
        )
        message = (
            f"User: arn:aws:sts::{self.account_id}:assumed-role/{DENIED_ROLE} is not authorized to perform: "
            f"{action}{resource} because no identity-based policy allows the {action} action"
        )
        return AthenaError("AccessDeniedException", message, 400)

    def _take_fault(self, operation: str, params: dict) -> dict | None:
        session = self._sessions.get(params.get("SessionId", ""))
        workgroup = params.get("WorkGroup") or (session.workgroup if session else None)
        for fault in self._faults:
            if (
                (fault["operation"] in (None, operation))
                and fault["session_id"] in (None, params.get("SessionId"))
                and fault["workgroup"] in (None, workgroup)
            ):
                if fault["times"] is not None:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    # -- operations --

    def _unknown_session(self, session_id: str) -> AthenaError:
        message = f"Session {session_id} is not found."
        if self.not_found_code == "ResourceNotFoundException":
            return AthenaError("ResourceNotFoundException", message, 400)
        return invalid_request(message)

    @staticmethod
    def _unknown_workgroup() -> AthenaError:
        return invalid_request("WorkGroup is not found.")

    def _status(self, session: _Session, listing: bool = False) -> dict:
        """``session.status()`` less the members the omit options name (ListSessions
        summaries: ``omit_timestamps`` and ``omit_timestamps_in_listings``)."""
        if not (self.omit_timestamps or (listing and self.omit_timestamps_in_listings)):
            return session.status()
        try:  # the attributes may have been reassigned since __init__ checked them
            omit = _checked_omissions(self.omit_timestamps)
            if listing:
                omit |= _checked_omissions(self.omit_timestamps_in_listings)
        except ValueError as err:
            raise ResponseShapeError(f"omit option: {err}") from err
        return session.status(omit)

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise self._unknown_session(session_id)
        session.settle(self.clock.now())
        return session

    def _start_session(self, params: dict, script=None) -> dict:
        with self._lock:
            token = params.get("ClientRequestToken")
            if token in self._tokens:
                session = self._session(self._tokens[token])
                return {"SessionId": session.id, "State": session.state}
            wg = self._workgroups.get(params["WorkGroup"])
            if wg is None:
                raise self._unknown_workgroup()
            if not wg.spark:
                raise invalid_request(f"Workgroup {wg.name} is not enabled for Apache Spark.")
            now = self.clock.now()
            if script is None:
                script = [(self.startup_seconds / 2, "CREATED", None), (self.startup_seconds, "IDLE", None)]
            steps = []
            for offset, state, *reason in script:
                if state not in STATES:
                    raise ValueError(f"unknown session state {state!r} in script")
                steps.append((now + timedelta(seconds=float(offset)), state, reason[0] if reason else None))
            steps.sort(key=lambda step: step[0])
            session = _Session(
                id=str(uuid.uuid4()),
                seq=next(self._seq),
                workgroup=wg.name,
                started=now,
                request=params,
                idle_timeout_minutes=params.get("SessionIdleTimeoutInMinutes", 20),
                dpus=params["EngineConfiguration"].get("MaxConcurrentDpus", 20),
                steps=steps,
                modified=now,
            )
            session.settle(now)
            self._sessions[session.id] = session
            if token:
                self._tokens[token] = session.id
            answer = {"SessionId": session.id, "State": session.state}
            self._record("StartSession", {"workGroup": wg.name}, {"sessionId": session.id, "state": "CREATED"})
            return answer

    def _get_session(self, params: dict) -> dict:
        with self._lock:
            session = self._session(params["SessionId"])
            request, wg = session.request, self._workgroups[session.workgroup]
            engine = {
                "CoordinatorDpuSize": 1,
                "MaxConcurrentDpus": session.dpus,
                "DefaultExecutorDpuSize": 1,
                "AdditionalConfigs": {},
                "SparkProperties": {},
                **request["EngineConfiguration"],
            }
            response = {
                "SessionId": session.id,
                "WorkGroup": session.workgroup,
                "EngineVersion": SPARK_ENGINE,
                "EngineConfiguration": engine,
                "NotebookVersion": request.get("NotebookVersion", NOTEBOOK_VERSION),
                "MonitoringConfiguration": request.get(
                    "MonitoringConfiguration", {"ManagedLoggingConfiguration": {"Enabled": True}}
                ),
                "SessionConfiguration": {
                    "ExecutionRole": request.get("ExecutionRole", wg.execution_role),
                    "WorkingDirectory": f"s3://aws-athena-spark-{self.account_id}-{self.region}"
                    f"/{session.workgroup}/{session.id}/",
                    "IdleTimeoutSeconds": session.idle_timeout_minutes * 60,
                    "SessionIdleTimeoutInMinutes": session.idle_timeout_minutes,
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
                "Status": self._status(session),
                "Statistics": {"DpuExecutionInMillis": session.dpu_millis(self.clock.now())},
            }
            if "Description" in request:
                response["Description"] = request["Description"]
            return response

    def _get_session_status(self, params: dict) -> dict:
        with self._lock:
            session = self._session(params["SessionId"])
            return {"SessionId": session.id, "Status": self._status(session)}

    def _terminate_session(self, params: dict) -> dict:
        with self._lock:
            session = self._session(params["SessionId"])
            if session.state not in FINISHED and session.state != "TERMINATING":
                now = self.clock.now()
                session.steps = []
                session.move(now, "TERMINATING", None)
                session.terminate_at = now + timedelta(seconds=self.terminate_seconds)
                session.settle(now)
            self._record("TerminateSession", {"sessionId": session.id}, {"state": session.state})
            return {"State": session.state}

    def _record(self, name: str, request: dict, response: dict) -> None:
        """What CloudTrail records of a successful call (the Athena user guide's examples' shape)."""
        self.trail.append(
            {
                "eventVersion": "1.09",
                "eventSource": "athena.amazonaws.com",
                "eventName": name,
                "eventTime": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "awsRegion": self.region,
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": self.account_id,
                "requestParameters": request,
                "responseElements": response,
                "eventID": str(uuid.uuid4()),
                "userIdentity": {"type": "AssumedRole", "accountId": self.account_id},
            }
        )

    def drain_trail(self) -> list[dict]:
        """The CloudTrail records since the last call, oldest first."""
        with self._lock:
            records, self.trail = self.trail, []
            return records

    def _list_sessions(self, params: dict) -> dict:
        with self._lock:
            wg = self._workgroups.get(params["WorkGroup"])
            if wg is None:
                raise self._unknown_workgroup()
            sessions = self._listing(wg.name, params.get("StateFilter"))
            if "NextToken" in params:
                after = self._decode_token(params["NextToken"], wg.name)
                sessions = [s for s in sessions if (s.started.timestamp(), s.seq) < after]
            limit = params.get("MaxResults", 100)
            page, rest = sessions[:limit], sessions[limit:]
            response: dict[str, Any] = {"Sessions": [self._summary(s) for s in page]}
            if rest:
                last = page[-1]
                response["NextToken"] = self._encode_token(
                    {"wg": wg.name, "after": [last.started.timestamp(), last.seq]}
                )
            return response

    def _listing(self, workgroup: str, state_filter: str | None) -> list[_Session]:
        """Every session ListSessions returns for ``workgroup``, settled, newest first
        (StartDateTime, then creation order)."""
        now = self.clock.now()
        sessions = [s for s in self._sessions.values() if s.workgroup == workgroup]
        for session in sessions:
            session.settle(now)
        return sorted(
            (s for s in sessions if self._listed(s, state_filter)), key=lambda s: (s.started, s.seq), reverse=True
        )

    def _listed(self, session: _Session, state_filter: str | None) -> bool:
        """Whether ListSessions (with ``state_filter``, or None) returns ``session``: see the
        class docstring for what is documented and what is assumed."""
        if state_filter not in (None, session.state):
            return False
        if session.state not in FINISHED or self.list_finished_sessions:
            return True
        return state_filter is not None and self.filtered_lists_finished

    def _summary(self, session: _Session) -> dict:
        summary = {
            "SessionId": session.id,
            "EngineVersion": {"SelectedEngineVersion": SPARK_ENGINE, "EffectiveEngineVersion": SPARK_ENGINE},
            "NotebookVersion": session.request.get("NotebookVersion", NOTEBOOK_VERSION),
            "Status": self._status(session, listing=True),
        }
        if "Description" in session.request:
            summary["Description"] = session.request["Description"]
        return summary

    def _list_work_groups(self, params: dict) -> dict:
        with self._lock:
            groups = sorted(self._workgroups.values(), key=lambda wg: wg.name)
            if "NextToken" in params:
                after = self._decode_token(params["NextToken"], "")
                groups = [wg for wg in groups if wg.name > after]
            limit = params.get("MaxResults", 50)
            page, rest = groups[:limit], groups[limit:]
            response: dict[str, Any] = {
                "WorkGroups": [
                    {
                        "Name": wg.name,
                        "State": "ENABLED",
                        "Description": wg.description,
                        "CreationTime": wg.created,
                        "EngineVersion": {
                            "SelectedEngineVersion": SPARK_ENGINE if wg.spark else SQL_ENGINE,
                            "EffectiveEngineVersion": SPARK_ENGINE if wg.spark else SQL_ENGINE,
                        },
                    }
                    for wg in page
                ]
            }
            if rest:
                response["NextToken"] = self._encode_token({"wg": "", "after": page[-1].name})
            return response

    @staticmethod
    def _encode_token(payload: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    @staticmethod
    def _decode_token(token: str, workgroup: str):
        try:
            payload = json.loads(base64.urlsafe_b64decode(token.encode()))
            after = payload["after"]
            if payload["wg"] == workgroup == "" and isinstance(after, str):
                return after  # ListWorkGroups: the last name returned
            if payload["wg"] == workgroup and [type(v) for v in after] == [float, int]:
                return tuple(after)  # ListSessions: (StartDateTime, creation order) of the last
        except (ValueError, KeyError, TypeError, binascii.Error):
            pass
        raise invalid_request("Invalid NextToken", "INVALID_NEXT_TOKEN")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local Athena session API emulator")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--workgroup", action="append", default=[], help="create this Spark workgroup (repeatable)")
    parser.add_argument("--list-finished-sessions", action="store_true")
    args = parser.parse_args(argv)
    emulator = AthenaEmulator(list_finished_sessions=args.list_finished_sessions)
    for name in args.workgroup:
        emulator.add_workgroup(name)
    server = EmulatorServer(emulator, port=args.port).start()
    print(f"Athena emulator on {server.endpoint_url} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The local Athena session emulator, driven through a real boto3 client over loopback HTTP."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from local_mode.athena_emulator import (
    FIXED_START,
    OMITTABLE_STATUS_MEMBERS,
    SPARK_ENGINE,
    SQL_ENGINE,
    TERMINATED_PER_REQUEST,
    AthenaEmulator,
    Clock,
    EmulatorServer,
    ResponseShapeError,
    omittable_status_members,
    validate_response,
)


def state(athena, session_id):
    return athena.get_session_status(SessionId=session_id)["Status"]


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def listed(athena, **kwargs):
    """(SessionId, State) of one ListSessions page of spark-wg, in the order returned."""
    page = athena.list_sessions(WorkGroup="spark-wg", **kwargs)["Sessions"]
    return [(s["SessionId"], s["Status"]["State"]) for s in page]


def at(seconds):
    return FIXED_START + timedelta(seconds=seconds)


def raw_post(url, target, body, path="/"):
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


# --- lifecycle -----------------------------------------------------------------------------


def test_scripted_lifecycle_follows_the_clock(athena, emulator):
    sid = emulator.start_session(
        "spark-wg",
        description="nightly job",
        idle_timeout_minutes=1,
        dpus=4,
        script=[(0, "CREATING", None), (30, "IDLE", None), (60, "BUSY", None), (120, "IDLE", None)],
    )
    seen = []
    for step in (0, 30, 30, 60, 59):
        emulator.clock.advance(step)
        status = state(athena, sid)
        seen.append(status["State"])
        assert ("IdleSinceDateTime" in status) == (status["State"] == "IDLE")
        assert "EndDateTime" not in status
    assert seen == ["CREATING", "IDLE", "BUSY", "IDLE", "IDLE"]
    emulator.clock.advance(1)  # idle since t=120 with a 1-minute timeout: ends at t=180
    session = athena.get_session(SessionId=sid)
    status = session["Status"]
    assert status["State"] == "TERMINATED"
    assert status["StateChangeReason"] == TERMINATED_PER_REQUEST
    assert status["EndDateTime"] == status["LastModifiedDateTime"] == FIXED_START + timedelta(seconds=180)
    assert "IdleSinceDateTime" not in status
    assert session["Statistics"]["DpuExecutionInMillis"] == 180_000 * 4
    emulator.clock.advance(600)  # finished: nothing moves any more
    assert athena.get_session(SessionId=sid)["Statistics"]["DpuExecutionInMillis"] == 720_000


def test_degraded_then_failed(athena, emulator):
    sid = emulator.start_session(
        "spark-wg",
        script=[
            (0, "CREATING", None),
            (30, "IDLE", None),
            (200, "DEGRADED", "No healthy coordinator"),
            (260, "FAILED", "Session failed: coordinator lost"),
        ],
    )
    emulator.clock.advance(200)
    status = state(athena, sid)
    assert (status["State"], status["StateChangeReason"]) == ("DEGRADED", "No healthy coordinator")
    assert "EndDateTime" not in status
    emulator.clock.advance(100)
    status = state(athena, sid)
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"] == "Session failed: coordinator lost"
    assert status["EndDateTime"] == FIXED_START + timedelta(seconds=260)


def test_default_lifecycle_and_idle_timeout_reads_like_a_manual_stop(athena, emulator):
    started = athena.start_session(WorkGroup="spark-wg", EngineConfiguration={"MaxConcurrentDpus": 2})
    assert set(started) - {"ResponseMetadata"} == {"SessionId", "State"}
    assert started["State"] == "CREATING"
    sid = started["SessionId"]
    emulator.clock.advance(3)
    assert state(athena, sid)["State"] == "CREATED"
    emulator.clock.advance(3)
    status = state(athena, sid)
    assert status["State"] == "IDLE"
    idle_since = status["IdleSinceDateTime"]
    emulator.clock.advance(20 * 60 - 1)
    assert state(athena, sid)["State"] == "IDLE"
    emulator.clock.advance(1)
    status = state(athena, sid)
    assert status["State"] == "TERMINATED"
    assert status["StateChangeReason"] == "Session was terminated per request"
    assert status["EndDateTime"] == idle_since + timedelta(minutes=20)


@pytest.mark.parametrize(
    "script, fails_at",
    [
        ([(0, "FAILED", "Session failed to start")], 0),
        ([(0, "CREATING", None), (5, "FAILED", "Session failed to start")], 5),
    ],
    ids=["failed-at-start", "creating-then-failed"],
)
def test_session_can_fail_straight_from_creating(athena, emulator, script, fails_at):
    # Given a session that fails while starting, never reaching IDLE
    sid = emulator.start_session("spark-wg", dpus=2, script=script)
    if fails_at:
        assert state(athena, sid)["State"] == "CREATING"
        assert listed(athena) == [(sid, "CREATING")]
    # When its failure time has passed
    emulator.clock.advance(fails_at + 60)
    # Then it is FAILED, ended at the failure, and was never idle (no IdleSinceDateTime)
    assert state(athena, sid) == {
        "State": "FAILED",
        "StateChangeReason": "Session failed to start",
        "StartDateTime": at(0),
        "LastModifiedDateTime": at(fails_at),
        "EndDateTime": at(fails_at),
    }
    assert athena.get_session(SessionId=sid)["Statistics"]["DpuExecutionInMillis"] == (fails_at * 1000 * 2)
    # And only a FAILED-filtered listing still shows it
    assert [listed(athena), listed(athena, StateFilter="CREATING"), listed(athena, StateFilter="FAILED")] == [
        [],
        [],
        [(sid, "FAILED")],
    ]


def test_degraded_and_idle_alternate_and_each_transition_is_a_modification(athena, emulator):
    # Given a session scripted DEGRADED -> IDLE -> DEGRADED -> BUSY
    sid = emulator.start_session(
        "spark-wg",
        script=[
            (0, "DEGRADED", "No healthy coordinator"),
            (10, "IDLE", None),
            (20, "DEGRADED", "Coordinator lost"),
            (30, "BUSY", None),
        ],
    )
    expected = [
        ("DEGRADED", "No healthy coordinator", None),
        ("IDLE", None, at(10)),
        ("DEGRADED", "Coordinator lost", None),
        ("BUSY", None, None),
    ]
    # When it is observed after each transition
    for step, (want_state, want_reason, want_idle_since) in enumerate(expected):
        status = state(athena, sid)
        # Then each transition has its own LastModifiedDateTime, reason and idle time
        assert status["State"] == want_state
        assert status["LastModifiedDateTime"] == at(10 * step)
        assert status.get("StateChangeReason") == want_reason
        assert status.get("IdleSinceDateTime") == want_idle_since
        assert "EndDateTime" not in status
        assert listed(athena) == [(sid, want_state)]  # DEGRADED is listed like any live state
        emulator.clock.advance(10)


def test_same_state_with_a_new_reason_changes_only_the_reason_and_modification_time(athena, emulator):
    # Given a DEGRADED session re-reporting its reason, and an IDLE one whose reason changes
    degraded = emulator.start_session(
        "spark-wg",
        script=[
            (0, "DEGRADED", "One coordinator lost"),
            (10, "DEGRADED", "One coordinator lost"),
            (20, "DEGRADED", "All coordinators lost"),
        ],
    )
    idle = emulator.start_session(
        "spark-wg", idle_timeout_minutes=1, script=[(0, "IDLE", None), (30, "IDLE", "Warm pool")]
    )
    # When the same reason is repeated
    emulator.clock.advance(10)
    # Then nothing changed
    assert state(athena, degraded)["LastModifiedDateTime"] == at(0)
    # When the reason changes but the state does not
    emulator.clock.advance(20)
    status = state(athena, degraded)
    assert (status["State"], status["StateChangeReason"]) == ("DEGRADED", "All coordinators lost")
    assert status["LastModifiedDateTime"] == at(20)
    status = state(athena, idle)
    assert (status["StateChangeReason"], status["LastModifiedDateTime"]) == ("Warm pool", at(30))
    # Then the idle session is still idle since t=0, so its timeout is not pushed back
    assert status["IdleSinceDateTime"] == at(0)
    emulator.clock.advance(30)
    assert state(athena, idle)["EndDateTime"] == at(60)


def test_idle_timeout_end_gives_athenas_reason_like_a_manual_stop(athena, emulator):
    # Given one session left idle past its timeout and one stopped by hand
    timed_out = emulator.start_session("spark-wg", idle_timeout_minutes=1, script=[(0, "IDLE", None)])
    stopped = emulator.start_session("spark-wg", script=[(0, "IDLE", None)])
    athena.terminate_session(SessionId=stopped)
    # When both have ended
    emulator.clock.advance(60)
    # Then both end TERMINATED with the reason Athena gives: the two cannot be told apart
    reasons = {sid: state(athena, sid) for sid in (timed_out, stopped)}
    for status in reasons.values():
        assert status["State"] == "TERMINATED"
        assert status["StateChangeReason"] == "Session was terminated per request"
    assert reasons[timed_out]["EndDateTime"] == at(60)
    summaries = athena.list_sessions(WorkGroup="spark-wg", StateFilter="TERMINATED")["Sessions"]
    assert {s["Status"]["StateChangeReason"] for s in summaries} == {"Session was terminated per request"}
    assert len(summaries) == 2


def test_terminate_session_goes_terminating_then_terminated(athena, emulator):
    sid = emulator.start_session("spark-wg", script=[(0, "BUSY", None), (100, "FAILED", "x")])
    assert athena.terminate_session(SessionId=sid)["State"] == "TERMINATING"
    emulator.clock.advance(emulator.terminate_seconds)
    status = state(athena, sid)
    assert (status["State"], status["StateChangeReason"]) == ("TERMINATED", TERMINATED_PER_REQUEST)
    emulator.clock.advance(200)  # the script no longer applies
    assert state(athena, sid)["State"] == "TERMINATED"
    assert athena.terminate_session(SessionId=sid)["State"] == "TERMINATED"


def test_get_session_carries_the_full_get_session_shape(athena, emulator):
    sid = emulator.start_session("spark-wg", description="d", idle_timeout_minutes=15, dpus=8)
    session = athena.get_session(SessionId=sid)
    assert session["EngineVersion"] == SPARK_ENGINE  # a string here, a structure in ListSessions
    assert session["WorkGroup"] == "spark-wg" and session["Description"] == "d"
    assert session["EngineConfiguration"]["MaxConcurrentDpus"] == 8
    config = session["SessionConfiguration"]
    assert config["SessionIdleTimeoutInMinutes"] == 15 and config["IdleTimeoutSeconds"] == 900
    assert config["ExecutionRole"].startswith("arn:aws:iam::")
    assert "MonitoringConfiguration" in session and "Statistics" in session


# --- ListSessions / ListWorkGroups ---------------------------------------------------------


def test_list_sessions_active_only_newest_first_paginated(athena, emulator):
    ids = []
    for _ in range(5):
        ids.append(emulator.start_session("spark-wg"))
        emulator.clock.advance(10)
    finished = emulator.start_session("spark-wg", script=[(0, "FAILED", "boom")])
    emulator.start_session("spark-wg", script=[(0, "DEGRADED", "sick"), (1, "DEGRADED", "sick")])
    emulator.terminate_session(ids[0])
    listed, token, pages = [], None, 0
    while True:
        kwargs = {"WorkGroup": "spark-wg", "MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        page = athena.list_sessions(**kwargs)
        pages += 1
        assert len(page["Sessions"]) <= 2
        listed += page["Sessions"]
        token = page.get("NextToken")
        if not token:
            break
    listed_ids = [s["SessionId"] for s in listed]
    assert finished not in listed_ids
    assert listed_ids[1:] == ids[::-1]  # newest first; TERMINATING ids[0] still listed
    assert listed[0]["Status"]["State"] == "DEGRADED" and pages == 3
    assert listed[0]["EngineVersion"] == {"SelectedEngineVersion": SPARK_ENGINE, "EffectiveEngineVersion": SPARK_ENGINE}
    assert "WorkGroup" not in listed[0] and "Statistics" not in listed[0]
    idle = athena.list_sessions(WorkGroup="spark-wg", StateFilter="IDLE")["Sessions"]
    assert [s["SessionId"] for s in idle] == ids[1:][::-1]
    emulator.clock.advance(emulator.terminate_seconds)
    assert ids[0] not in [s["SessionId"] for s in athena.list_sessions(WorkGroup="spark-wg")["Sessions"]]


def test_list_finished_sessions_option(athena, emulator):
    sid = emulator.start_session("spark-wg", script=[(0, "FAILED", "boom")])
    assert athena.list_sessions(WorkGroup="spark-wg")["Sessions"] == []
    emulator.list_finished_sessions = True
    sessions = athena.list_sessions(WorkGroup="spark-wg")["Sessions"]
    assert [(s["SessionId"], s["Status"]["State"]) for s in sessions] == [(sid, "FAILED")]


def test_state_filter_lists_finished_sessions_newest_first(athena, emulator):
    # Given failed, terminated and live sessions started ten seconds apart
    first_failed = emulator.start_session("spark-wg", script=[(0, "FAILED", "boom")])
    emulator.clock.advance(10)
    stopped = emulator.start_session("spark-wg", script=[(0, "IDLE", None)])
    emulator.terminate_session(stopped)
    emulator.clock.advance(10)
    second_failed = emulator.start_session("spark-wg", script=[(0, "CREATING", None), (5, "FAILED", "no capacity")])
    live = emulator.start_session("spark-wg", script=[(0, "IDLE", None)])
    emulator.clock.advance(emulator.terminate_seconds + 5)
    # When the workgroup is listed without and with a StateFilter
    # Then the unfiltered listing has the live session only
    assert listed(athena) == [(live, "IDLE")]
    # And each filter returns the sessions in its state, finished ones included, newest first
    assert listed(athena, StateFilter="FAILED") == [(second_failed, "FAILED"), (first_failed, "FAILED")]
    assert listed(athena, StateFilter="TERMINATED") == [(stopped, "TERMINATED")]
    assert listed(athena, StateFilter="IDLE") == [(live, "IDLE")]
    # And a filtered listing pages like the unfiltered one
    page = athena.list_sessions(WorkGroup="spark-wg", StateFilter="FAILED", MaxResults=1)
    rest = athena.list_sessions(WorkGroup="spark-wg", StateFilter="FAILED", MaxResults=1, NextToken=page["NextToken"])
    assert [s["SessionId"] for s in page["Sessions"] + rest["Sessions"]] == [second_failed, first_failed]
    assert "NextToken" not in rest


def test_filtered_listings_without_finished_sessions(make_athena):
    # Given an emulator whose StateFilter never returns finished sessions
    emulator = AthenaEmulator(Clock(FIXED_START), filtered_lists_finished=False)
    emulator.add_workgroup("spark-wg")
    failed = emulator.start_session("spark-wg", script=[(0, "FAILED", "boom")])
    live = emulator.start_session("spark-wg", script=[(0, "IDLE", None)])
    with EmulatorServer(emulator) as server:
        athena = make_athena(server.endpoint_url)
        # When the workgroup is listed with filters
        # Then finished sessions are missing, live ones are filtered as usual
        assert listed(athena, StateFilter="FAILED") == []
        assert listed(athena, StateFilter="IDLE") == [(live, "IDLE")]
        assert listed(athena) == [(live, "IDLE")]
        # When the account also lists finished sessions unfiltered
        emulator.list_finished_sessions = True
        # Then the filter narrows that listing: the failed session is found either way
        assert listed(athena, StateFilter="FAILED") == [(failed, "FAILED")]
        assert listed(athena) == [(live, "IDLE"), (failed, "FAILED")]
        # When the attribute is flipped back mid-scenario
        emulator.list_finished_sessions, emulator.filtered_lists_finished = False, True
        assert listed(athena, StateFilter="FAILED") == [(failed, "FAILED")]
    assert emulator.shape_errors == []


# --- optional Status members ---------------------------------------------------------------


def status_everywhere(athena, sid):
    """The Status of ``sid`` in GetSession, GetSessionStatus and its ListSessions summary."""
    summaries = athena.list_sessions(WorkGroup="spark-wg")["Sessions"]
    return {
        "GetSession": athena.get_session(SessionId=sid)["Status"],
        "GetSessionStatus": state(athena, sid),
        "ListSessions": next(s["Status"] for s in summaries if s["SessionId"] == sid),
    }


def test_every_omittable_member_is_optional_in_botocores_model():
    assert omittable_status_members() == set(OMITTABLE_STATUS_MEMBERS)


@pytest.mark.parametrize("member", OMITTABLE_STATUS_MEMBERS)
def test_omit_timestamps_leaves_a_member_out_of_every_answer(athena, emulator, member):
    # Given an idle session with a reason, and a failed one, both listed
    emulator.list_finished_sessions = True
    idle = emulator.start_session("spark-wg", script=[(0, "IDLE", "Warm pool")])
    failed = emulator.start_session("spark-wg", script=[(0, "FAILED", "boom")])
    emulator.clock.advance(10)
    sid = failed if member == "EndDateTime" else idle
    assert all(member in status for status in status_everywhere(athena, sid).values())
    # When the emulator is told mid-scenario to omit the member
    emulator.omit_timestamps = {member}
    # Then no answer carries it, and every other member is still there
    for operation, status in status_everywhere(athena, sid).items():
        assert member not in status, operation
        assert status["State"] in ("IDLE", "FAILED")
        assert len(status) >= 3  # State and at least two other members remain


def test_a_listing_can_lack_last_modified_while_get_session_has_it(athena, emulator):
    # Given a session whose listing entry omits LastModifiedDateTime
    sid = emulator.start_session("spark-wg", script=[(0, "IDLE", None)])
    emulator.omit_timestamps_in_listings = frozenset({"LastModifiedDateTime"})
    # When it is read through each operation
    statuses = status_everywhere(athena, sid)
    # Then only the listing lacks it
    assert "LastModifiedDateTime" not in statuses["ListSessions"]
    assert statuses["ListSessions"]["StartDateTime"] == at(0)
    assert statuses["GetSession"]["LastModifiedDateTime"] == at(0)
    assert statuses["GetSessionStatus"]["LastModifiedDateTime"] == at(0)
    # When the option is cleared mid-scenario, the listing carries it again
    emulator.omit_timestamps_in_listings = frozenset()
    assert status_everywhere(athena, sid)["ListSessions"]["LastModifiedDateTime"] == at(0)


def test_omit_options_accept_only_optional_status_members(athena, emulator):
    # Given names the model does not let the emulator leave out, or a bare string
    for names in ({"State"}, {"SessionId"}, {"EndDatetime"}, "EndDateTime"):
        # When they are passed to the constructor, Then they are refused
        with pytest.raises(ValueError):
            AthenaEmulator(omit_timestamps=names)
        with pytest.raises(ValueError):
            AthenaEmulator(omit_timestamps_in_listings=names)
    assert AthenaEmulator(omit_timestamps={"EndDateTime"}).omit_timestamps == {"EndDateTime"}
    # When one is assigned after construction, Then the answer fails loudly as a shape error
    sid = emulator.start_session("spark-wg")
    emulator.omit_timestamps = {"State"}
    err = error_of(athena.get_session_status, SessionId=sid)
    assert err["Error"]["Code"] == "EmulatorResponseShapeError"
    assert emulator.shape_errors and "State" in emulator.shape_errors[0]
    emulator.shape_errors.clear()  # seen and expected: keep the fixture's check quiet


def test_list_sessions_rejections(athena, emulator):
    err = error_of(athena.list_sessions, WorkGroup="spark-wg", MaxResults=101)
    assert err["Error"]["Code"] == "InvalidRequestException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "less than or equal to 100" in err["Error"]["Message"]
    with pytest.raises(ParamValidationError):  # botocore checks minimums itself
        athena.list_sessions(WorkGroup="spark-wg", MaxResults=0)
    err = error_of(athena.list_sessions, WorkGroup="no-such-wg")
    assert err["Error"]["Code"] == "InvalidRequestException"
    for token in ("garbage", athena.list_work_groups(MaxResults=1)["NextToken"]):
        err = error_of(athena.list_sessions, WorkGroup="spark-wg", NextToken=token)
        assert err["Error"]["Code"] == "InvalidRequestException"
    err = error_of(athena.list_sessions, WorkGroup="spark-wg", StateFilter="RUNNING")
    assert err["Error"]["Code"] == "InvalidRequestException"  # enum checked by the server


def test_list_work_groups_tells_spark_from_sql(athena, emulator):
    emulator.add_workgroup("sql-wg", spark=False)
    first = athena.list_work_groups(MaxResults=2)
    rest = athena.list_work_groups(MaxResults=2, NextToken=first["NextToken"])
    assert "NextToken" not in rest
    engines = {
        wg["Name"]: wg["EngineVersion"]["EffectiveEngineVersion"] for wg in first["WorkGroups"] + rest["WorkGroups"]
    }
    assert engines == {"primary": SQL_ENGINE, "spark-wg": SPARK_ENGINE, "sql-wg": SQL_ENGINE}
    err = error_of(athena.start_session, WorkGroup="sql-wg", EngineConfiguration={})
    assert err["Error"]["Code"] == "InvalidRequestException"


# --- errors and faults ---------------------------------------------------------------------


def test_unknown_session_id(athena, emulator):
    for call in (athena.get_session, athena.get_session_status, athena.terminate_session):
        err = error_of(call, SessionId="no-such-session")
        assert err["Error"]["Code"] == "InvalidRequestException"
        assert err["AthenaErrorCode"] == "INVALID_INPUT"  # modelled member, parsed by botocore
    emulator.not_found_code = "ResourceNotFoundException"
    err = error_of(athena.get_session, SessionId="no-such-session")
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_overlong_session_id_is_rejected_by_the_server(athena, emulator):
    err = error_of(athena.get_session, SessionId="s" * 257)  # botocore lets it through
    assert err["Error"]["Code"] == "InvalidRequestException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == (
        "1 validation error detected: Value at 'sessionId' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )
    assert emulator.calls["GetSession"] == 1


@pytest.mark.parametrize(
    "kind, code, status, attempts",
    [
        ("throttle", "ThrottlingException", 400, 2),  # retried by botocore: call + one retry
        ("internal", "InternalServerException", 500, 2),
        ("not_found", "InvalidRequestException", 400, 1),  # not retried
        ("access_denied", "AccessDeniedException", 400, 1),  # not retried
    ],
)
def test_fault_kinds_surface_as_client_errors(athena, emulator, kind, code, status, attempts):
    sid = emulator.start_session("spark-wg")
    emulator.inject_fault(session_id=sid, operation="GetSession", kind=kind, times=attempts)
    err = error_of(athena.get_session, SessionId=sid)
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    if kind == "throttle":
        assert err["Error"]["Message"] == "Rate exceeded"
    assert emulator.calls["GetSession"] == attempts
    assert athena.get_session(SessionId=sid)["SessionId"] == sid  # the fault is used up
    assert athena.get_session_status(SessionId=sid)  # other operations never matched


def test_access_denied_names_the_caller_the_action_and_the_workgroup(athena, emulator):
    sid = emulator.start_session("spark-wg")
    emulator.inject_fault(kind="access_denied", times=None)
    denied = [
        error_of(athena.get_session, SessionId=sid),
        error_of(athena.list_sessions, WorkGroup="spark-wg"),
        error_of(athena.get_session, SessionId="no-such-session"),  # no workgroup to name
    ]
    assert {(e["Error"]["Code"], e["ResponseMetadata"]["HTTPStatusCode"]) for e in denied} == {
        ("AccessDeniedException", 400)
    }
    caller = "User: arn:aws:sts::123456789012:assumed-role/athena-session-monitor-role/athena-session-monitor"
    workgroup = "arn:aws:athena:us-east-1:123456789012:workgroup/spark-wg"
    assert [e["Error"]["Message"] for e in denied] == [
        (
            f"{caller} is not authorized to perform: athena:GetSession on resource: {workgroup} "
            "because no identity-based policy allows the athena:GetSession action"
        ),
        (
            f"{caller} is not authorized to perform: athena:ListSessions on resource: {workgroup} "
            "because no identity-based policy allows the athena:ListSessions action"
        ),
        (
            f"{caller} is not authorized to perform: athena:GetSession "
            "because no identity-based policy allows the athena:GetSession action"
        ),
    ]
    assert emulator.calls == {"GetSession": 2, "ListSessions": 1}  # never retried
    emulator.clear_faults()
    assert athena.get_session(SessionId=sid)["SessionId"] == sid


def test_single_fault_is_absorbed_by_the_retry_and_counted(athena, emulator):
    emulator.inject_fault(workgroup="spark-wg", operation="ListSessions", kind="throttle")
    athena.list_sessions(WorkGroup="spark-wg")
    assert emulator.calls["ListSessions"] == 2


def test_slow_fault_delays_then_answers(athena, emulator):
    sid = emulator.start_session("spark-wg")
    emulator.inject_fault(session_id=sid, kind="slow", delay_seconds=0.3)
    began = time.monotonic()
    assert athena.get_session(SessionId=sid)["SessionId"] == sid
    assert time.monotonic() - began >= 0.3


def test_unknown_operation_and_error_wire_format(athena, server, emulator):
    err = error_of(athena.get_query_execution, QueryExecutionId="q")
    assert err["Error"]["Code"] == "UnknownOperationException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    status, headers, body = raw_post(server.endpoint_url, "AmazonAthena.GetSession", {"SessionId": "nope"})
    assert status == 400 and headers["Content-Type"] == "application/x-amz-json-1.1"
    assert body == {
        "__type": "InvalidRequestException",
        "Message": "Session nope is not found.",
        "AthenaErrorCode": "INVALID_INPUT",
        "ErrorCode": "INVALID_INPUT",
    }
    assert "x-amzn-ErrorType" not in headers and "x-amzn-RequestId" in headers
    emulator.error_type_header = True
    _, headers, _ = raw_post(server.endpoint_url, "AmazonAthena.GetSession", {"SessionId": "x"})
    assert headers["x-amzn-ErrorType"] == "InvalidRequestException"
    status, _, body = raw_post(server.endpoint_url, "AmazonAthena.GetSession", {})
    assert status == 400 and "Member must not be null" in body["Message"]


# --- response validation -------------------------------------------------------------------


def test_validator_rejects_broken_responses():
    now = FIXED_START
    good_status = {"StartDateTime": now, "LastModifiedDateTime": now, "State": "IDLE"}
    validate_response("GetSessionStatus", {"SessionId": "s", "Status": good_status})
    broken = [
        ("GetSession", {"SessionId": "s", "EngineVersion": {"SelectedEngineVersion": "x"}}),
        ("ListSessions", {"Sessions": [{"SessionId": "s", "EngineVersion": SPARK_ENGINE}]}),
        ("GetSessionStatus", {"SessionId": "s", "Status": {**good_status, "State": "RUNNING"}}),
        ("GetSessionStatus", {"SessionId": "s" * 257}),
        ("GetSessionStatus", {"SessionId": "s", "Status": {**good_status, "StartDateTime": "x"}}),
        ("StartSession", {"SessionId": "s", "State": "CREATING", "WorkGroup": "w"}),
        ("GetSession", {"SessionId": "s", "Statistics": {"DpuExecutionInMillis": "many"}}),
    ]
    for operation, response in broken:
        with pytest.raises(ResponseShapeError):
            validate_response(operation, response)


def test_a_drifting_response_fails_loudly(athena, emulator, monkeypatch):
    sid = emulator.start_session("spark-wg")
    monkeypatch.setattr(emulator, "_summary", lambda s: {"SessionId": s.id, "EngineVersion": SPARK_ENGINE})
    err = error_of(athena.list_sessions, WorkGroup="spark-wg")
    assert err["Error"]["Code"] == "EmulatorResponseShapeError"
    assert len(emulator.shape_errors) == 2  # the call and its retry
    with pytest.raises(ResponseShapeError):
        emulator.handle("ListSessions", {"WorkGroup": "spark-wg"})
    emulator.shape_errors.clear()  # seen and expected: keep the fixture's check quiet
    assert sid


# --- server and control API ----------------------------------------------------------------


def test_control_api_over_http(server, emulator, make_athena):
    def call(method, route, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(server.endpoint_url + "/_emulator/" + route, data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    assert call("POST", "workgroups", {"name": "demo-wg", "spark": True}) == {"Name": "demo-wg"}
    sid = call(
        "POST",
        "sessions",
        {"workgroup": "demo-wg", "script": [[0, "CREATING", None], [30, "IDLE", None], [90, "FAILED", "lost"]]},
    )["SessionId"]
    call("POST", "faults", {"operation": "GetSession", "kind": "throttle", "times": 2})
    athena = make_athena(server.endpoint_url)
    assert error_of(athena.get_session, SessionId=sid)["Error"]["Code"] == "ThrottlingException"
    assert call("POST", "advance", {"seconds": 100})["Now"] == (FIXED_START + timedelta(seconds=100)).isoformat()
    assert athena.get_session(SessionId=sid)["Status"]["State"] == "FAILED"
    assert call("GET", "calls")["Calls"] == {"GetSession": 3}
    with pytest.raises(urllib.error.HTTPError) as info:
        call("POST", "sessions", {"workgroup": "no-such-wg"})
    assert info.value.code == 400


def test_server_binds_loopback_and_closes_on_stop(emulator, make_athena):
    server = EmulatorServer(emulator).start()
    host, port = server.endpoint_url.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    athena = make_athena(server.endpoint_url)
    assert athena.list_sessions(WorkGroup="spark-wg")["Sessions"] == []  # a pooled connection
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
    with pytest.raises(EndpointConnectionError):
        athena.list_sessions(WorkGroup="spark-wg")
    server.stop()  # idempotent


def test_env_endpoint_and_command_line_entry(monkeypatch):
    process = subprocess.Popen(
        [sys.executable, "-m", "local_mode.athena_emulator", "--port", "0", "--workgroup", "cli-wg"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", url)
        athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        names = [wg["Name"] for wg in athena.list_work_groups()["WorkGroups"]]
        assert names == ["cli-wg", "primary"]
    finally:
        process.send_signal(2)  # Ctrl-C
        assert process.wait(timeout=10) == 0


def test_clock_is_explicit():
    clock = Clock(FIXED_START)
    assert clock.now() == FIXED_START and clock.now().tzinfo is not None
    assert clock.advance(1.5) == FIXED_START + timedelta(seconds=1.5)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert Clock().now().tzinfo is not None
    assert AthenaEmulator().clock.now().utcoffset() == timedelta(0)

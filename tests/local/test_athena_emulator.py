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

from local_mode.athena_emulator import (FIXED_START, SPARK_ENGINE, SQL_ENGINE,
                                        TERMINATED_PER_REQUEST, AthenaEmulator, Clock,
                                        EmulatorServer, ResponseShapeError, validate_response)


def state(athena, session_id):
    return athena.get_session_status(SessionId=session_id)["Status"]


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def raw_post(url, target, body, path="/"):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"X-Amz-Target": target,
                                              "Content-Type": "application/x-amz-json-1.1"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


# --- lifecycle -----------------------------------------------------------------------------

def test_scripted_lifecycle_follows_the_clock(athena, emulator):
    sid = emulator.start_session("spark-wg", description="nightly job", idle_timeout_minutes=1,
                                 dpus=4, script=[(0, "CREATING", None), (30, "IDLE", None),
                                                 (60, "BUSY", None), (120, "IDLE", None)])
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
    sid = emulator.start_session("spark-wg", script=[
        (0, "CREATING", None), (30, "IDLE", None), (200, "DEGRADED", "No healthy coordinator"),
        (260, "FAILED", "Session failed: coordinator lost")])
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
    started = athena.start_session(WorkGroup="spark-wg",
                                   EngineConfiguration={"MaxConcurrentDpus": 2})
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
    assert listed[0]["EngineVersion"] == {"SelectedEngineVersion": SPARK_ENGINE,
                                          "EffectiveEngineVersion": SPARK_ENGINE}
    assert "WorkGroup" not in listed[0] and "Statistics" not in listed[0]
    idle = athena.list_sessions(WorkGroup="spark-wg", StateFilter="IDLE")["Sessions"]
    assert [s["SessionId"] for s in idle] == ids[1:][::-1]
    emulator.clock.advance(emulator.terminate_seconds)
    assert ids[0] not in [s["SessionId"] for s in
                          athena.list_sessions(WorkGroup="spark-wg")["Sessions"]]


def test_list_finished_sessions_option(athena, emulator):
    sid = emulator.start_session("spark-wg", script=[(0, "FAILED", "boom")])
    assert athena.list_sessions(WorkGroup="spark-wg")["Sessions"] == []
    emulator.list_finished_sessions = True
    sessions = athena.list_sessions(WorkGroup="spark-wg")["Sessions"]
    assert [(s["SessionId"], s["Status"]["State"]) for s in sessions] == [(sid, "FAILED")]


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
    engines = {wg["Name"]: wg["EngineVersion"]["EffectiveEngineVersion"]
               for wg in first["WorkGroups"] + rest["WorkGroups"]}
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
        "Member must have length less than or equal to 256")
    assert emulator.calls["GetSession"] == 1


@pytest.mark.parametrize("kind, code, status, attempts", [
    ("throttle", "ThrottlingException", 400, 2),  # retried by botocore: call + one retry
    ("internal", "InternalServerException", 500, 2),
    ("not_found", "InvalidRequestException", 400, 1),  # not retried
])
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
    status, headers, body = raw_post(server.endpoint_url, "AmazonAthena.GetSession",
                                     {"SessionId": "nope"})
    assert status == 400 and headers["Content-Type"] == "application/x-amz-json-1.1"
    assert body == {"__type": "InvalidRequestException", "Message": "Session nope is not found.",
                    "AthenaErrorCode": "INVALID_INPUT", "ErrorCode": "INVALID_INPUT"}
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
    monkeypatch.setattr(emulator, "_summary", lambda s: {"SessionId": s.id,
                                                         "EngineVersion": SPARK_ENGINE})
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
        request = urllib.request.Request(server.endpoint_url + "/_emulator/" + route,
                                         data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    assert call("POST", "workgroups", {"name": "demo-wg", "spark": True}) == {"Name": "demo-wg"}
    sid = call("POST", "sessions", {"workgroup": "demo-wg", "script": [
        [0, "CREATING", None], [30, "IDLE", None], [90, "FAILED", "lost"]]})["SessionId"]
    call("POST", "faults", {"operation": "GetSession", "kind": "throttle", "times": 2})
    athena = make_athena(server.endpoint_url)
    assert error_of(athena.get_session, SessionId=sid)["Error"]["Code"] == "ThrottlingException"
    assert call("POST", "advance", {"seconds": 100})["Now"] == (
        FIXED_START + timedelta(seconds=100)).isoformat()
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
    process = subprocess.Popen([sys.executable, "-m", "local_mode.athena_emulator", "--port", "0",
                                "--workgroup", "cli-wg"], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", url)
        athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="t",
                              aws_secret_access_key="t")
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

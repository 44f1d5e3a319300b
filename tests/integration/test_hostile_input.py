"""Property-based hostile input (Hypothesis) through every entry shape.

Each input gets a clear 4xx or a named error, never an unhandled exception, never an Athena
call with an id the service model rejects, and never a valid id turned away. Athena is the
Stubber: a call that was not queued fails the test, so "never reaches Athena" is checked.
"""

from __future__ import annotations

import contextlib
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_monitor import errors
from session_monitor.entry import handler
from tests.helpers import api_event, get_session_response, load_event, session_check_event

FIXTURES_OK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

texts = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=300)
tricky = st.sampled_from(
    [
        "",
        " ",
        "../../etc/passwd",
        "a%2Fb",
        "a/b",
        "%00",
        "\x00",
        "\n",
        "' OR 1=1 --",
        '{"SessionId": "x"}',
        "x" * 256,
        "x" * 257,
        "🙂" * 64,
        "\u202e",
        "?a=b",
        "#frag",
    ]
)
session_ids = st.one_of(tricky, texts)
not_strings = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)


def _valid(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 256


@FIXTURES_OK
@given(value=st.one_of(session_ids, not_strings))
def test_direct_invocation_with_any_session_id(athena, alerts, context, value):
    if _valid(value):
        athena.add_response("get_session", get_session_response(value, "IDLE"), {"SessionId": value})
        assert handler({"SessionId": value}, context)["session_id"] == value
    else:
        with pytest.raises(errors.InvalidSessionId):
            handler({"SessionId": value}, context)
    athena.assert_no_pending_responses()


@FIXTURES_OK
@given(value=st.one_of(session_ids, not_strings))
def test_eventbridge_event_with_any_session_id(athena, alerts, context, value):
    if _valid(value):
        athena.add_response("get_session", get_session_response(value, "BUSY"), {"SessionId": value})
        assert handler(session_check_event(value), context)["state"] == "BUSY"
    else:
        with pytest.raises(errors.InvalidSessionId):
            handler(session_check_event(value), context)


@FIXTURES_OK
@given(value=session_ids)
def test_api_with_any_session_id(athena, alerts, context, value):
    event = api_event("/sessions/" + value)
    if _valid(value):
        athena.add_response("get_session", get_session_response(value, "IDLE"), {"SessionId": value})
    response = handler(event, context)
    body = json.loads(response["body"])
    if _valid(value):
        assert response["statusCode"] == 200 and body["session_id"] == value
    else:
        assert response["statusCode"] in (400, 404) and body["error"] in (
            "InvalidInput",
            "InvalidSessionId",
            "RouteNotFound",
        )
    athena.assert_no_pending_responses()


@FIXTURES_OK
@given(
    workgroup=texts,
    max_results=st.one_of(st.text(max_size=5), st.integers(-5, 200).map(str)),
    next_token=st.one_of(st.none(), texts),
)
def test_api_list_with_any_query(athena, alerts, context, workgroup, max_results, next_token):
    query = {"workgroup": workgroup, "max_results": max_results}
    if next_token is not None:
        query["next_token"] = next_token
    import re

    valid = (
        re.fullmatch(r"[a-zA-Z0-9._-]{1,128}", workgroup) is not None
        and max_results.strip().lstrip("+").isdigit()
        and 1 <= int(max_results) <= 100
        and (next_token is None or 1 <= len(next_token) <= 2048)
    )
    if valid:
        expected = {"WorkGroup": workgroup, "MaxResults": int(max_results)}
        if next_token:
            expected["NextToken"] = next_token
        athena.add_response("list_sessions", {"Sessions": []}, expected)
    response = handler(api_event("/sessions", query), context)
    if not valid:
        assert response["statusCode"] == 400, (query, response["body"])
    assert json.loads(response["body"])  # always a JSON body


MUTATIONS = st.sampled_from([None, 0, -1, "", "x", [], {}, True, "GET", {"requestId": None}])


@FIXTURES_OK
@given(
    key=st.sampled_from(
        [
            "path",
            "httpMethod",
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
            "pathParameters",
            "requestContext",
            "body",
            "resource",
        ]
    ),
    value=MUTATIONS,
    delete=st.booleans(),
)
def test_mangled_api_events_get_a_json_4xx_or_a_named_error(emulated_athena, alerts, context, key, value, delete):
    if "w" not in emulated_athena.emulator._workgroups:
        emulated_athena.emulator.add_workgroup("w")
    event = api_event("/sessions", {"workgroup": "w"})
    if delete:
        event.pop(key, None)
    else:
        event[key] = value
    try:
        response = handler(event, context)
    except errors.SessionMonitorError:
        return  # no longer recognisable as an API request: a named error
    if response["statusCode"] == 200:
        return  # the mutation did not matter (e.g. headers removed): Athena answered below
    assert 400 <= response["statusCode"] < 500, response
    assert json.loads(response["body"])["error"]


@FIXTURES_OK
@given(
    event=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(["source", "detail-type", "detail", "Records", "id", "foo", "action", "version"]),
                children,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_events_raise_named_errors_only(athena, alerts, context, event):
    with contextlib.suppress(errors.SessionMonitorError):
        handler(event, context)


def test_events_from_other_sources_sent_by_mistake(alerts, context):
    sns_event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "hi"}}]}
    s3_event = {"Records": [{"eventSource": "aws:s3", "s3": {}}]}
    query_event = {
        "version": "0",
        "id": "x",
        "source": "aws.athena",
        "detail-type": "Athena Query State Change",
        "detail": {"currentState": "FAILED"},
    }
    for event in (sns_event, s3_event, query_event):
        with pytest.raises(errors.UnsupportedEvent):
            handler(event, context)


def test_a_huge_payload_is_refused_by_name_without_echoing_it(alerts, context):
    event = {"payload": "x" * 5_000_000}
    with pytest.raises(errors.UnsupportedEvent) as raised:
        handler(event, context)
    assert len(str(raised.value)) < 500


def test_an_api_request_with_a_huge_body_is_answered(athena, alerts, context):
    athena.add_response("get_session", get_session_response("s-1", "IDLE"), {"SessionId": "s-1"})
    event = api_event("/sessions/s-1")
    event["body"] = "x" * 5_000_000
    assert handler(event, context)["statusCode"] == 200


def test_an_id_with_a_slash_is_reachable_through_api_gateways_path_parameter(athena, alerts, context):
    athena.add_response("get_session", get_session_response("a/b", "IDLE"), {"SessionId": "a/b"})
    response = handler(api_event("/sessions/a/b"), context)
    assert response["statusCode"] == 200 and json.loads(response["body"])["session_id"] == "a/b"


def test_a_sweep_with_no_spark_workgroup_reports_nothing_and_leaves_the_event_alone(emulated_athena, alerts, context):
    event = load_event("scheduled_event.json")
    before = copy.deepcopy(event)
    report = handler(event, context)  # the emulator has only the SQL workgroup "primary"
    assert report["workgroups"] == [] and report["alerts_sent"] == []
    assert event == before

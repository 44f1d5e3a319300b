"""Checks the service model implies and botocore does not make client-side."""

from __future__ import annotations

import pytest

from session_monitor import validation
from session_monitor.errors import InvalidParameter, InvalidSessionId, InvalidWorkgroup


@pytest.mark.parametrize(
    "value", ["a", "x" * 256, "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab", "é" * 256, "../..", "a/b", " "]
)
def test_valid_session_ids_pass_unchanged(value):
    assert validation.session_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 257, None, 42, ["a"], {"id": "a"}, b"abc"])
def test_invalid_session_ids_raise_the_named_error(value):
    with pytest.raises(InvalidSessionId):
        validation.session_id(value)


@pytest.mark.parametrize("value", ["primary", "team.a-b_c", "x" * 128])
def test_valid_workgroups(value):
    assert validation.workgroup(value) == value


@pytest.mark.parametrize("value", ["", "x" * 129, "has space", "semi;colon", None, 5])
def test_invalid_workgroups(value):
    with pytest.raises(InvalidWorkgroup):
        validation.workgroup(value)


@pytest.mark.parametrize("value", [0, 101, True, "10", None])
def test_max_results_out_of_range(value):
    with pytest.raises(InvalidParameter):
        validation.max_results(value)

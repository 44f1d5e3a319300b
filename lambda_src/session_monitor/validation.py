"""Input checks the service model implies but botocore does not enforce client-side.

botocore validates only minimum lengths before sending, so a 300-character session id or a
workgroup with a space would reach Athena and come back as an opaque InvalidRequestException.
These checks give the caller a precise 400 instead, and keep bad input away from Athena.
"""

from __future__ import annotations

import re

import session_contract as contract

from .errors import InvalidParameter, InvalidSessionId, InvalidWorkgroup

# From the athena service model (botocore 1.44), kept in the contract module.
SESSION_ID_MAX_LENGTH = contract.SESSION_ID_MAX_LENGTH
WORKGROUP_PATTERN = re.compile(contract.WORKGROUP_PATTERN)
MAX_RESULTS_RANGE = contract.MAX_RESULTS_RANGE
NEXT_TOKEN_MAX_LENGTH = contract.NEXT_TOKEN_MAX_LENGTH


def session_id(value: object) -> str:
    """Return ``value`` if it is a valid SessionId, else raise InvalidSessionId."""
    if not isinstance(value, str):
        raise InvalidSessionId(f"SessionId must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= SESSION_ID_MAX_LENGTH:
        raise InvalidSessionId(f"SessionId must be 1 to {SESSION_ID_MAX_LENGTH} characters, got {len(value)}")
    return value


def workgroup(value: object) -> str:
    """Return ``value`` if it is a valid WorkGroupName, else raise InvalidWorkgroup."""
    if not isinstance(value, str) or not WORKGROUP_PATTERN.fullmatch(value):
        raise InvalidWorkgroup("workgroup must be 1 to 128 characters of letters, digits, '.', '_' or '-'")
    return value


def max_results(value: object) -> int:
    low, high = MAX_RESULTS_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(f"max_results must be an integer from {low} to {high}")
    return value


def next_token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= NEXT_TOKEN_MAX_LENGTH:
        raise InvalidParameter(f"next_token must be a string of 1 to {NEXT_TOKEN_MAX_LENGTH} characters")
    return value

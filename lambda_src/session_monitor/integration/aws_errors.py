"""The botocore failures every adapter shares, as the monitor's named errors.

No credentials, a request botocore refused to send, or a call the role may not make are the same
problem whichever service was called; each adapter names the action and the resource it asked
for, so the message says what was denied without quoting AWS's text (which carries ARNs).
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from ..errors import AccessDenied, CredentialsUnavailable, InvalidParameter, SessionMonitorError

ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "UnrecognizedClientException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "KMSAccessDeniedException",
        "KMSAccessDenied",
    }
)
CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)


def error_code(error: Exception) -> str:
    return str(error.response.get("Error", {}).get("Code", "")) if isinstance(error, ClientError) else ""


def named(
    error: Exception, action: str, resource: str, denied: type[AccessDenied] = AccessDenied
) -> SessionMonitorError | None:
    """The named error for a failure any AWS call can have, or None (the adapter decides)."""
    if isinstance(error, CREDENTIAL_ERRORS):
        return CredentialsUnavailable(f"no AWS credentials to call {action}")
    if isinstance(error, ParamValidationError):
        return InvalidParameter(f"{action} was not sent: its parameters break the service model")
    code = error_code(error)
    if code in ACCESS_CODES:
        return denied(f"the monitor's role may not call {action} on {resource} ({code})")
    return None

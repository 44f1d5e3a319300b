"""The named errors of the monitor.

Class names are a public API: Step Functions ``Retry``/``Catch`` match on them (Lambda reports the
class name as ``errorType``) and the API maps them to HTTP statuses. Never rename one.
Messages are written by us; raw AWS exception text is never put in a message.
"""

from __future__ import annotations


class SessionMonitorError(Exception):
    """Base class of every error the monitor raises on purpose."""

    status_code = 500
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__

    def to_body(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, "retryable": self.retryable}


class InvalidInput(SessionMonitorError):
    """The request is malformed; retrying it unchanged will fail again."""

    status_code = 400


class InvalidSessionId(InvalidInput):
    """The session id breaks the service model's constraints (a string of 1 to 256 characters)."""


class InvalidWorkgroup(InvalidInput):
    """The workgroup name breaks the service model's pattern ``[a-zA-Z0-9._-]{1,128}``."""


class InvalidParameter(InvalidInput):
    """Another parameter (``max_results``, ``next_token``) is out of range."""


class UnsupportedEvent(InvalidInput):
    """The function was invoked with an event shape it does not handle."""


class NotFound(SessionMonitorError):
    status_code = 404


class SessionNotFound(NotFound):
    """Athena does not know the session (it answered ResourceNotFound or InvalidRequest)."""


class WorkgroupNotFound(NotFound):
    """Athena does not know the workgroup."""


class UpstreamError(SessionMonitorError):
    """An AWS dependency failed after botocore's retries."""

    status_code = 502
    retryable = True


class AthenaThrottled(UpstreamError):
    """Athena kept answering ThrottlingException after adaptive retries."""

    status_code = 503


class AthenaUnavailable(UpstreamError):
    """Athena answered 5xx (InternalServerException) or an unexpected error after retries."""


class AthenaTimeout(UpstreamError):
    """Athena did not answer within the connect/read timeouts."""

    status_code = 504


class AccessDenied(UpstreamError):
    """The function's role may not make an AWS call: the first thing that breaks after a deploy.
    The message names the action and the resource that were denied (from what we asked, never
    from AWS's text)."""

    retryable = False


class AthenaAccessDenied(AccessDenied):
    """The function's role may not call Athena for this resource (a deployment problem)."""


class CredentialsUnavailable(UpstreamError):
    """The function found no AWS credentials (a broken role, or a local run without any)."""

    retryable = False


class AlertDeliveryFailed(UpstreamError):
    """SNS did not accept an alert; nothing was recorded, so the next look sends it again."""


class StateStoreUnavailable(UpstreamError):
    """The DynamoDB state table could not be read or written."""


class SweepIncomplete(UpstreamError):
    """A sweep left work undone (a workgroup failed); raised so the asynchronous retry redoes it."""


class ConfigurationError(SessionMonitorError):
    """The function's environment is missing or has a bad setting (a deployment problem)."""

"""CloudTrail records as EventBridge delivers them ("AWS API Call via CloudTrail", source aws.athena).

Local mode and the tests wrap the emulator's records (AthenaEmulator.drain_trail) in the event
EventBridge would send the function, so the same entry shape is exercised as in AWS.
"""

from __future__ import annotations

import uuid
from typing import Any

ACCOUNT_ID = "123456789012"


def eventbridge_event(record: dict[str, Any], account: str = ACCOUNT_ID) -> dict[str, Any]:
    """EventBridge's envelope around one CloudTrail management-event record."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.athena",
        "account": account,
        "time": record.get("eventTime"),
        "region": record.get("awsRegion"),
        "resources": [],
        "detail": record,
    }


def failed_record(name: str, request: dict[str, Any], code: str = "InvalidRequestException") -> dict[str, Any]:
    """A call Athena refused: CloudTrail keeps errorCode/errorMessage and no responseElements."""
    return {
        "eventVersion": "1.09",
        "eventSource": "athena.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "eventType": "AwsApiCall",
        "requestParameters": request,
        "responseElements": None,
        "errorCode": code,
        "errorMessage": "refused",
    }

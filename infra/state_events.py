"""State-change events (stateChangeEvents): the function may put events on one bus, nothing else.

Athena sends no EventBridge event when a Spark session changes state; the function puts one
("Athena Spark Session State Change", source athena-session-monitor) for every change it sees,
on the account's default bus or the bus the context key names. This construct grants exactly
``events:PutEvents`` on that bus's ARN (the function learns the bus from STATE_EVENTS_BUS, which
infra/function.py sets through the contract). The rules that route the events are the
consumers' own: ``failed_sessions_pattern`` is the README's example, tested against moto.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

import session_contract as contract
from infra.function import MonitorFunction


def bus_arn(scope: Construct, bus: str) -> str:
    """The ARN of the bus PutEvents is called with: an ARN as given, a name in this stack's
    account and Region (the function calls EventBridge in its own Region)."""
    if bus.startswith("arn:"):
        return bus
    return Stack.of(scope).format_arn(
        service="events", resource="event-bus", resource_name=bus, arn_format=ArnFormat.SLASH_RESOURCE_NAME
    )


def failed_sessions_pattern(workgroup: str) -> dict[str, Any]:
    """An event pattern for the FAILED sessions of one workgroup (the README's example rule)."""
    return {
        "source": [contract.STATE_EVENTS_SOURCE],
        "detail-type": [contract.STATE_EVENTS_DETAIL_TYPE],
        "detail": {"state": ["FAILED"], "session": {"workgroup": [workgroup]}},
    }


def failed_sessions_event_pattern(workgroup: str) -> events.EventPattern:
    """``failed_sessions_pattern`` as CDK's EventPattern, for a rule in a consumer's stack."""
    pattern = failed_sessions_pattern(workgroup)
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"])


class StateEvents(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, monitor: MonitorFunction, bus: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = bus
        self.bus_arn = bus_arn(self, bus)
        # PutEvents authorizes against the event-bus resource type: this bus and no other.
        monitor.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.bus_arn])
        )

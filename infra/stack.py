"""The stack only composes one construct per concern and exports what operators need."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra import constants
from infra.alerts import AlertsTopic
from infra.api import SessionsApi
from infra.chat import ChatChannels
from infra.cloudtrail_events import CloudTrailEvents
from infra.config import MonitorConfig
from infra.fanout import SweepFanout
from infra.function import MonitorFunction
from infra.monitoring import Monitoring
from infra.schedule import SweepSchedule
from infra.state_events import StateEvents
from infra.state_table import StateTable


class AthenaSessionMonitorStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: MonitorConfig, **kwargs: Any) -> None:
        kwargs.setdefault("description", constants.STACK_DESCRIPTION)
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        self.alerts = AlertsTopic(
            self,
            "Alerts",
            alert_email=config.alert_email,
            data_protection_policy=config.sns_data_protection,
            fifo=config.alerts_topic_fifo,
        )
        self.state = StateTable(self, "State")

        self.monitor = MonitorFunction(self, "Monitor", config=config)
        self.monitor.add_environment(constants.ENV_ALERTS_TOPIC_ARN, self.alerts.topic.topic_arn)
        self.monitor.add_environment(constants.ENV_STATE_TABLE_NAME, self.state.table.table_name)
        self.alerts.grant_publish(self.monitor.role)
        self.state.grant_state_access(self.monitor.role)

        self.schedule = SweepSchedule(self, "Schedule", function=self.monitor.function, minutes=config.schedule_minutes)
        dead_letter_queues = {
            "AsyncFailureQueue": self.monitor.failure_queue,
            "ScheduleDeadLetterQueue": self.schedule.dead_letter_queue,
        }
        self.fanout: SweepFanout | None = None
        if config.sqs_fanout:
            self.fanout = SweepFanout(self, "Fanout", monitor=self.monitor)
            dead_letter_queues["FanoutDeadLetterQueue"] = self.fanout.dead_letter_queue
        self.cloudtrail_events: CloudTrailEvents | None = None
        if config.cloudtrail_events:
            self.cloudtrail_events = CloudTrailEvents(self, "CloudTrailEvents", monitor=self.monitor)
            dead_letter_queues["CloudTrailDeadLetterQueue"] = self.cloudtrail_events.dead_letter_queue
            dead_letter_queues["FollowUpDeadLetterQueue"] = self.cloudtrail_events.follow_up_dead_letter_queue

        self.chat: ChatChannels | None = None
        if config.slack or config.teams:
            self.chat = ChatChannels(self, "Chat", config=config, topic=self.alerts.topic)

        self.state_events: StateEvents | None = None
        if config.state_events_bus is not None:
            self.state_events = StateEvents(self, "StateEvents", monitor=self.monitor, bus=config.state_events_bus)

        self.api = SessionsApi(self, "Api", function=self.monitor.function, config=config)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            function=self.monitor.function,
            timeout=self.monitor.timeout,
            topic=self.alerts.alarm_topic,
            alerts_topic=self.alerts.topic,
            dead_letter_queues=dead_letter_queues,
            schedule_minutes=config.schedule_minutes,
            api=self.api.api,
            state=self.state,
            state_events=self.state_events is not None,
        )

        CfnOutput(self, "ApiUrl", value=self.api.url, description="Base URL of the sessions API (SigV4-signed GETs)")
        CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn, description="Subscribe here for alerts")
        if self.alerts.alarm_topic is not self.alerts.topic:
            CfnOutput(
                self,
                "AlarmTopicArn",
                value=self.alerts.alarm_topic.topic_arn,
                description="The monitor's own alarms (a FIFO alerts topic cannot take them); alertEmail is subscribed here",
            )
        CfnOutput(self, "StateTableName", value=self.state.table.table_name)
        CfnOutput(self, "DashboardUrl", value=self.monitoring.dashboard_url)

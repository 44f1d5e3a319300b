"""Alarms on the monitor itself and a dashboard of what it sees, both in plain aws_cloudwatch.

Silence must never look like health: the heartbeat alarm fires when no sweep has completed,
whatever the reason (a disabled rule, a broken role, a throttled or deleted function, an outage),
because missing data counts as breaching. Every other alarm fires on a symptom and stays quiet
without data. Each one notifies the alerts topic (on ALARM and on OK) and says in its description
what it means and what to check first; the README's "Is it working?" has the same table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

import session_contract as contract
from infra import constants
from infra.state_table import StateTable

ALARM_PERIOD = Duration.minutes(5)
# The API reads Athena with 2 s connect / 5 s read timeouts: a p99 above 5 s means requests are
# waiting out timeouts or retries, not just a cold start.
API_LATENCY_P99_THRESHOLD_MS = 5_000
# API Gateway's 5XXError is 0 or 1 per request, so its Average is the share of requests that
# failed: above 1 in 20 over 5 minutes is more than a stray Athena throttle.
API_5XX_RATE_THRESHOLD = 0.05
# Errors by Kind (the function's error class names, session_monitor/errors.py) that mean the
# deployment is broken: nothing retries its way out of these. Alarms cannot use SEARCH, so the
# kinds are listed; the dashboard's SEARCH graph shows every kind, these included.
DEPLOYMENT_ERROR_KINDS = ("AccessDenied", "AthenaAccessDenied", "CredentialsUnavailable", "ConfigurationError")
# ... and those that mean an alert was not sent or not recorded (the next look retries it).
ALERT_ERROR_KINDS = ("AlertDeliveryFailed", "StateStoreUnavailable")


def heartbeat_window(schedule_minutes: int) -> tuple[Duration, int]:
    """Period and evaluation periods of the heartbeat alarm: together at least two sweep periods
    plus Lambda's retry window (contract.RETRY_WINDOW_MINUTES), so one missed or retried sweep
    never fires it and two missed in a row do.

    CloudWatch allows a period of any multiple of 60 s, and period x evaluation periods of at most
    one day for periods under an hour, seven days otherwise. Up to 60 minutes the window is one
    period; beyond, it is whole hours (scheduleMinutes 1440: 49 one-hour periods, all of which
    must be empty).
    """
    window = 2 * schedule_minutes + contract.RETRY_WINDOW_MINUTES
    if window <= 60:
        return Duration.minutes(window), 1
    return Duration.hours(1), math.ceil(window / 60)


def custom_metric(metric_name: str, statistic: str, period: Duration, label: str, **dimensions: str) -> cw.Metric:
    """One of the function's own metrics (EMF, contract.METRICS_NAMESPACE, dimension service)."""
    return cw.Metric(
        namespace=contract.METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map={contract.DIMENSION_SERVICE: contract.SERVICE_NAME, **dimensions},
        statistic=statistic,
        period=period,
        label=label,
    )


def errors_of_kinds(kinds: Sequence[str], label: str) -> cw.MathExpression:
    """Sum of Errors over the given Kind values, each FILLed with 0 (most kinds have no data)."""
    metrics = {
        kind.lower(): custom_metric(
            contract.METRIC_ERRORS, cw.Stats.SUM, ALARM_PERIOD, kind, **{contract.DIMENSION_KIND: kind}
        )
        for kind in kinds
    }
    return cw.MathExpression(
        expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
        using_metrics=metrics,
        label=label,
        period=ALARM_PERIOD,
    )


AT_LEAST = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
ABOVE = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
BELOW = cw.ComparisonOperator.LESS_THAN_THRESHOLD


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        timeout: Duration,
        topic: sns.ITopic,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        schedule_minutes: int,
        api: apigw.RestApi,
        state: StateTable,
        state_events: bool = False,
        alerts_topic: sns.ITopic | None = None,
    ) -> None:
        """``topic`` gets the alarms' notifications; ``alerts_topic`` is the function's alerts topic
        when it is another one (a FIFO alerts topic, which alarms cannot publish to). Both are
        watched for failed deliveries."""
        super().__init__(scope, construct_id)
        self._prefix = Stack.of(self).stack_name
        self._action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []

        self._heartbeat_alarms(schedule_minutes)
        self._function_alarms(function, timeout)
        self._error_alarms()
        if state_events:
            self._state_event_alarms()
        self._api_alarms(api)
        self._state_alarms(state)
        topics = {"AlertsTopic": alerts_topic or topic}
        if alerts_topic is not None and alerts_topic is not topic:
            topics["AlarmTopic"] = topic
        self._topic_alarms(topics)
        self._queue_alarms(dead_letter_queues)

        self.dashboard = self._dashboard(function, dead_letter_queues, schedule_minutes, api, state, topics)

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        threshold: float,
        comparison: cw.ComparisonOperator,
        description: str,
        *,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
    ) -> cw.Alarm:
        created = cw.Alarm(
            self,
            name,
            alarm_name=f"{self._prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            # Symptom alarms: no data means nothing happened, so nothing failed. The heartbeat
            # alarm is the one that treats silence as a failure.
            treat_missing_data=missing,
        )
        created.add_alarm_action(self._action)
        created.add_ok_action(self._action)
        self.alarms.append(created)
        return created

    def _heartbeat_alarms(self, schedule_minutes: int) -> None:
        period, evaluation_periods = heartbeat_window(schedule_minutes)
        window = 2 * schedule_minutes + contract.RETRY_WINDOW_MINUTES
        # In SQS fan-out mode every workgroup message's sweep beats the heartbeat, so the Sum is
        # at least 1 per window whenever sweeps work, inline or fanned out.
        self._alarm(
            "NoSweepCompleted",
            custom_metric(contract.METRIC_SWEEPS_COMPLETED, cw.Stats.SUM, period, "Sweeps completed"),
            1,
            BELOW,
            f"No sweep completed in the last {window} minutes (two {schedule_minutes}-minute sweep periods plus "
            "the retry window): the monitor is not watching, and no alert would be sent. Missing data counts: "
            "this fires for a disabled schedule rule, a broken role, a throttled or failing function, an outage. "
            "Check the schedule rule is enabled, then the function's Errors/Throttles and its log group, then the "
            "dead-letter queues. Right after the first deploy it may fire once until the first sweep.",
            missing=cw.TreatMissingData.BREACHING,
            evaluation_periods=evaluation_periods,
        )
        self._alarm(
            "SweepIncomplete",
            custom_metric(contract.METRIC_SWEEPS_INCOMPLETE, cw.Stats.SUM, ALARM_PERIOD, "Sweeps incomplete"),
            1,
            AT_LEAST,
            "A sweep left a workgroup undone (throttled, denied, missing, Athena down); Lambda retries it. Look for "
            "'sweep finished' in the function's logs (failed_workgroups names each one and why) and at Errors by "
            "kind on the dashboard.",
        )

    def _function_alarms(self, function: lambda_.Function, timeout: Duration) -> None:
        self._alarm(
            "FunctionErrors",
            function.metric_errors(period=ALARM_PERIOD, statistic=cw.Stats.SUM),
            1,
            AT_LEAST,
            "The monitor function raised errors (an incomplete sweep, a failed check, a bug). Open its log group "
            "(errorType names the error class; README 'Errors'); a sweep is retried twice, then lands in the "
            "AsyncFailureQueue.",
        )
        self._alarm(
            "FunctionThrottles",
            function.metric_throttles(period=ALARM_PERIOD, statistic=cw.Stats.SUM),
            1,
            AT_LEAST,
            "The monitor function hit its reserved concurrency (reservedConcurrency): sweeps, checks or API calls "
            "were rejected. Look for a runaway API client or a fan-out/follow-up backlog; raise reservedConcurrency "
            "if the load is real.",
        )
        duration_threshold_ms = timeout.to_milliseconds() * constants.DURATION_ALARM_FRACTION
        self._alarm(
            "FunctionDurationNearTimeout",
            function.metric_duration(period=ALARM_PERIOD, statistic=cw.Stats.percentile(99)),
            duration_threshold_ms,
            ABOVE,
            f"p99 duration above {int(constants.DURATION_ALARM_FRACTION * 100)}% of the "
            f"{int(timeout.to_seconds())} s timeout: sweeps are about to be cut off. Check Athena throttling "
            "(Errors by kind) and the number of watched workgroups; consider sweepFanout=sqs.",
        )

    def _error_alarms(self) -> None:
        self._alarm(
            "DeploymentErrors",
            errors_of_kinds(DEPLOYMENT_ERROR_KINDS, "Access, credential and configuration errors"),
            1,
            AT_LEAST,
            f"The function reported {', '.join(DEPLOYMENT_ERROR_KINDS)}: its role may not make a call, it has no "
            "credentials, or its environment is wrong. Usually the first thing after a deploy; retries will not fix "
            "it. Read the error message in the log group (it names the action and resource) and fix the role or "
            "cdk.json.",
        )
        self._alarm(
            "AlertsNotSent",
            errors_of_kinds(ALERT_ERROR_KINDS, "Alerts not sent or not recorded"),
            1,
            AT_LEAST,
            "An alert could not be published to SNS (AlertDeliveryFailed) or claimed/recorded in the state table "
            "(StateStoreUnavailable). The next look retries it, so it is late, not lost, while this lasts. Check "
            "the topic and its KMS key policy, and the table's throttles and system errors.",
        )

    def _state_event_alarms(self) -> None:
        self._alarm(
            "StateChangeEventsNotPut",
            custom_metric(contract.METRIC_STATE_EVENTS_FAILED, cw.Stats.SUM, ALARM_PERIOD, "Events not put"),
            1,
            AT_LEAST,
            "EventBridge refused state-change events (stateChangeEvents) after the function's retries: rules on the "
            "bus missed those changes (alerts are not affected). The function's log names the event ids and the "
            "error codes; check that the bus exists and that the role may call events:PutEvents on it.",
        )

    def _api_alarms(self, api: apigw.RestApi) -> None:
        self._alarm(
            "ApiServerErrorRate",
            api.metric_server_error(period=ALARM_PERIOD, statistic=cw.Stats.AVERAGE, label="5XX rate"),
            API_5XX_RATE_THRESHOLD,
            ABOVE,
            f"More than {API_5XX_RATE_THRESHOLD:.0%} of /sessions requests answered 5xx over 5 minutes: 502/503/504 "
            "mean Athena failed, throttled or timed out after retries, 500 a bug. The body's 'error' names it; "
            "see the API access logs and the function's log group.",
        )
        self._alarm(
            "ApiLatencyP99",
            api.metric_latency(period=ALARM_PERIOD, statistic=cw.Stats.percentile(99), label="p99 latency"),
            API_LATENCY_P99_THRESHOLD_MS,
            ABOVE,
            f"/sessions p99 latency above {API_LATENCY_P99_THRESHOLD_MS / 1000:.0f} s in 2 of the last 3 "
            "5-minute periods: requests wait out Athena's 5 s read timeout or its throttling retries. Check Athena "
            "throttling (Errors by kind) and the function's duration.",
            evaluation_periods=3,
            datapoints_to_alarm=2,
        )

    def _state_alarms(self, state: StateTable) -> None:
        self._alarm(
            "StateTableThrottles",
            state.metric_sum_over_operations("ThrottledRequests", period=ALARM_PERIOD, label="Throttled requests"),
            1,
            AT_LEAST,
            "The state table throttled the function's requests (on-demand tables throttle on hot partitions or the "
            "account's table quota). Alerts are claimed in this table: throttling delays them. Check the table's "
            "metrics and the account's DynamoDB quotas.",
        )
        self._alarm(
            "StateTableSystemErrors",
            state.metric_sum_over_operations("SystemErrors", period=ALARM_PERIOD, label="System errors"),
            1,
            AT_LEAST,
            "DynamoDB answered the state table's requests with 5xx (a service-side problem): alerts are delayed "
            "until it recovers. Check the AWS Health Dashboard for DynamoDB in this Region.",
        )

    def _topic_alarms(self, topics: Mapping[str, sns.ITopic]) -> None:
        what = {"AlertsTopic": "the alerts topic", "AlarmTopic": "the alarm topic (the monitor's own alarms)"}
        for name, topic in topics.items():
            self._alarm(
                f"{name}DeliveryFailed",
                topic.metric_number_of_notifications_failed(period=ALARM_PERIOD, statistic=cw.Stats.SUM),
                1,
                AT_LEAST,
                f"SNS could not deliver messages from {what[name]} to a subscriber (after its retries): an e-mail "
                "address that bounces, a chat channel or queue that stopped accepting them. This notice may not "
                "reach that subscriber either. Check the topic's subscriptions and their delivery logs.",
            )

    def _queue_alarms(self, dead_letter_queues: Mapping[str, sqs.IQueue]) -> None:
        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD, statistic=cw.Stats.MAXIMUM),
                0,
                ABOVE,
                f"Messages in {name}: events, sweeps or checks that failed for good. Read a message (it carries the "
                "event and, from Lambda, the error), fix the cause, then purge or redrive.",
            )

    def _dashboard(
        self,
        function: lambda_.Function,
        queues: Mapping[str, sqs.IQueue],
        schedule_minutes: int,
        api: apigw.RestApi,
        state: StateTable,
        topics: Mapping[str, sns.ITopic],
    ) -> cw.Dashboard:
        # One period per sweep: Sum then adds up one sweep's reports, which in SQS fan-out mode
        # arrive as one data point per workgroup.
        sweep_period = Duration.minutes(schedule_minutes)

        def custom(metric_name: str, statistic: str, label: str, **dimensions: str) -> cw.Metric:
            return custom_metric(metric_name, statistic, sweep_period, label, **dimensions)

        alarm_status = cw.AlarmStatusWidget(title="Is it working? (alarms)", alarms=self.alarms, width=24)
        heartbeat = cw.GraphWidget(
            title="Sweeps completed / incomplete (per sweep period)",
            left=[
                custom(contract.METRIC_SWEEPS_COMPLETED, cw.Stats.SUM, "Completed"),
                custom(contract.METRIC_SWEEPS_INCOMPLETE, cw.Stats.SUM, "Incomplete"),
            ],
            width=6,
        )
        api_health = cw.GraphWidget(
            title="API: requests, 5XX, p99 latency (ms)",
            left=[
                api.metric_count(statistic=cw.Stats.SUM, label="Requests"),
                api.metric_server_error(statistic=cw.Stats.SUM, label="5XX"),
            ],
            right=[api.metric_latency(statistic=cw.Stats.percentile(99), label="p99 latency")],
            width=6,
        )
        table_health = cw.GraphWidget(
            title="State table throttles and system errors; alert deliveries failed",
            left=[
                state.metric_sum_over_operations("ThrottledRequests", period=ALARM_PERIOD, label="Throttled"),
                state.metric_sum_over_operations("SystemErrors", period=ALARM_PERIOD, label="System errors"),
                *(
                    topic.metric_number_of_notifications_failed(
                        statistic=cw.Stats.SUM, label=f"SNS deliveries failed ({name.removesuffix('Topic').lower()})"
                    )
                    for name, topic in topics.items()
                ),
            ],
            width=6,
        )
        sessions_by_state = cw.GraphWidget(
            title="Sessions by state (per sweep)",
            left=[
                custom(contract.METRIC_SESSIONS_SEEN, cw.Stats.SUM, name, **{contract.DIMENSION_STATE: name})
                for name in contract.SESSION_STATES
            ],
            stacked=True,
            width=12,
        )
        alerts = cw.GraphWidget(
            title="Alerts published; state-change events put and not put",
            left=[
                custom(contract.METRIC_ALERTS_PUBLISHED, cw.Stats.SUM, "Alerts"),
                custom(contract.METRIC_STATE_EVENTS_PUT, cw.Stats.SUM, "Events put"),
                custom(contract.METRIC_STATE_EVENTS_FAILED, cw.Stats.SUM, "Events not put"),
            ],
            width=6,
        )
        dpu_hours = cw.GraphWidget(
            title="DPU-hours of the sessions seen (per sweep)",
            left=[custom(contract.METRIC_DPU_HOURS_SEEN, cw.Stats.SUM, "DPU-hours")],
            width=6,
        )
        sweep_duration = cw.GraphWidget(
            title="Sweep duration (ms)",
            left=[
                custom(contract.METRIC_SWEEP_DURATION_MS, cw.Stats.percentile(50), "p50"),
                custom(contract.METRIC_SWEEP_DURATION_MS, cw.Stats.percentile(99), "p99"),
                custom(contract.METRIC_SWEEP_DURATION_MS, cw.Stats.MAXIMUM, "max"),
            ],
            width=6,
        )
        errors_by_kind = cw.GraphWidget(
            title="Errors by kind",
            left=[
                cw.MathExpression(
                    # The Kind values belong to the function's error hierarchy; SEARCH picks up new
                    # kinds without a redeploy.
                    expression=(
                        f"SEARCH('{{{contract.METRICS_NAMESPACE},{contract.DIMENSION_KIND},{contract.DIMENSION_SERVICE}}} "
                        f'MetricName="{contract.METRIC_ERRORS}" '
                        f"{contract.DIMENSION_SERVICE}=\"{contract.SERVICE_NAME}\"', 'Sum', 300)"
                    ),
                    using_metrics={},
                    label="Errors",
                    period=Duration.minutes(5),
                )
            ],
            width=6,
        )
        function_health = cw.GraphWidget(
            title="Function invocations, errors, throttles",
            left=[
                function.metric_invocations(statistic=cw.Stats.SUM),
                function.metric_errors(statistic=cw.Stats.SUM),
                function.metric_throttles(statistic=cw.Stats.SUM),
            ],
            width=6,
        )
        function_duration = cw.GraphWidget(
            title="Function duration (ms)",
            left=[
                function.metric_duration(statistic=cw.Stats.percentile(50), label="p50"),
                function.metric_duration(statistic=cw.Stats.percentile(99), label="p99"),
                function.metric_duration(statistic=cw.Stats.MAXIMUM, label="max"),
            ],
            width=6,
        )
        queue_depth = cw.GraphWidget(
            title="Dead-letter queues (messages visible)",
            left=[
                queue.metric_approximate_number_of_messages_visible(statistic=cw.Stats.MAXIMUM, label=label)
                for label, queue in queues.items()
            ],
            width=6,
        )

        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=self._prefix)
        dashboard.add_widgets(alarm_status)
        dashboard.add_widgets(heartbeat, api_health, table_health, queue_depth)
        dashboard.add_widgets(sessions_by_state, alerts, dpu_hours)
        dashboard.add_widgets(sweep_duration, errors_by_kind, function_health, function_duration)
        return dashboard

    @property
    def dashboard_url(self) -> str:
        return (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{self.dashboard.dashboard_name}"
        )

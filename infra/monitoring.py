"""Alarms on the monitor itself and a dashboard of what it sees, both in plain aws_cloudwatch."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants

ALARM_PERIOD = Duration.minutes(5)


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
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = Stack.of(self).stack_name
        action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(
            name: str, metric: cw.IMetric, threshold: float, description: str, comparison: cw.ComparisonOperator
        ) -> cw.Alarm:
            created = cw.Alarm(
                self,
                name,
                alarm_name=f"{prefix}-{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                comparison_operator=comparison,
                evaluation_periods=1,
                # No invocations means nothing failed; a silent schedule shows up as a missing sweep
                # on the dashboard, and a stuck one as the DLQ alarms below.
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms.append(created)
            return created

        at_least_one = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        alarm(
            "FunctionErrors",
            function.metric_errors(period=ALARM_PERIOD, statistic=cw.Stats.SUM),
            1,
            "The monitor function raised errors (sweep or API); see its log group.",
            at_least_one,
        )
        alarm(
            "FunctionThrottles",
            function.metric_throttles(period=ALARM_PERIOD, statistic=cw.Stats.SUM),
            1,
            "The monitor function hit its reserved concurrency; sweeps or API calls were rejected.",
            at_least_one,
        )
        duration_threshold_ms = timeout.to_milliseconds() * constants.DURATION_ALARM_FRACTION
        alarm(
            "FunctionDurationNearTimeout",
            function.metric_duration(period=ALARM_PERIOD, statistic=cw.Stats.percentile(99)),
            duration_threshold_ms,
            f"p99 duration above {int(constants.DURATION_ALARM_FRACTION * 100)}% of the "
            f"{int(timeout.to_seconds())} s timeout: sweeps are about to be cut off.",
            cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        for name, queue in dead_letter_queues.items():
            alarm(
                f"{name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD, statistic=cw.Stats.MAXIMUM),
                0,
                f"Messages in {name}: events or checks that failed for good. Inspect, fix, then purge or redrive.",
                cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )

        self.dashboard = self._dashboard(prefix, function, dead_letter_queues, schedule_minutes)

    def _dashboard(
        self, name: str, function: lambda_.Function, queues: Mapping[str, sqs.IQueue], schedule_minutes: int
    ) -> cw.Dashboard:
        # One period per sweep: Sum then adds up one sweep's reports, which in SQS fan-out mode
        # arrive as one data point per workgroup.
        sweep_period = Duration.minutes(schedule_minutes)

        def custom(metric_name: str, statistic: str, label: str, **dimensions: str) -> cw.Metric:
            return cw.Metric(
                namespace=constants.METRICS_NAMESPACE,
                metric_name=metric_name,
                dimensions_map={constants.DIMENSION_SERVICE: constants.SERVICE_NAME, **dimensions},
                statistic=statistic,
                period=sweep_period,
                label=label,
            )

        sessions_by_state = cw.GraphWidget(
            title="Sessions by state (per sweep)",
            left=[
                custom(constants.METRIC_SESSIONS_SEEN, cw.Stats.SUM, state, **{constants.DIMENSION_STATE: state})
                for state in constants.SESSION_STATES
            ],
            stacked=True,
            width=12,
        )
        alerts = cw.GraphWidget(
            title="Alerts published",
            left=[custom(constants.METRIC_ALERTS_PUBLISHED, cw.Stats.SUM, "Alerts")],
            width=6,
        )
        dpu_hours = cw.GraphWidget(
            title="DPU-hours of the sessions seen (per sweep)",
            left=[custom(constants.METRIC_DPU_HOURS_SEEN, cw.Stats.SUM, "DPU-hours")],
            width=6,
        )
        sweep_duration = cw.GraphWidget(
            title="Sweep duration (ms)",
            left=[
                custom(constants.METRIC_SWEEP_DURATION_MS, cw.Stats.percentile(50), "p50"),
                custom(constants.METRIC_SWEEP_DURATION_MS, cw.Stats.percentile(99), "p99"),
                custom(constants.METRIC_SWEEP_DURATION_MS, cw.Stats.MAXIMUM, "max"),
            ],
            width=8,
        )
        errors_by_kind = cw.GraphWidget(
            title="Errors by kind",
            left=[
                cw.MathExpression(
                    # The Kind values belong to the function's error hierarchy; SEARCH picks up new
                    # kinds without a redeploy.
                    expression=(
                        f"SEARCH('{{{constants.METRICS_NAMESPACE},{constants.DIMENSION_KIND},{constants.DIMENSION_SERVICE}}} "
                        f'MetricName="{constants.METRIC_ERRORS}" '
                        f"{constants.DIMENSION_SERVICE}=\"{constants.SERVICE_NAME}\"', 'Sum', 300)"
                    ),
                    using_metrics={},
                    label="Errors",
                    period=Duration.minutes(5),
                )
            ],
            width=8,
        )
        function_health = cw.GraphWidget(
            title="Function invocations, errors, throttles",
            left=[
                function.metric_invocations(statistic=cw.Stats.SUM),
                function.metric_errors(statistic=cw.Stats.SUM),
                function.metric_throttles(statistic=cw.Stats.SUM),
            ],
            width=8,
        )
        function_duration = cw.GraphWidget(
            title="Function duration (ms)",
            left=[
                function.metric_duration(statistic=cw.Stats.percentile(50), label="p50"),
                function.metric_duration(statistic=cw.Stats.percentile(99), label="p99"),
                function.metric_duration(statistic=cw.Stats.MAXIMUM, label="max"),
            ],
            width=8,
        )
        queue_depth = cw.GraphWidget(
            title="Dead-letter queues (messages visible)",
            left=[
                queue.metric_approximate_number_of_messages_visible(statistic=cw.Stats.MAXIMUM, label=label)
                for label, queue in queues.items()
            ],
            width=8,
        )
        alarm_status = cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=8)

        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=name)
        dashboard.add_widgets(sessions_by_state, alerts, dpu_hours)
        dashboard.add_widgets(sweep_duration, errors_by_kind, alarm_status)
        dashboard.add_widgets(function_health, function_duration, queue_depth)
        return dashboard

    @property
    def dashboard_url(self) -> str:
        return (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{self.dashboard.dashboard_name}"
        )

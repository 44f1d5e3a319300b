"""The state table: what the monitor remembers between sweeps (last seen state, alerts sent)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

import session_contract as contract
from infra import constants

# Exactly what lambda_src/session_monitor/integration/state_store.py calls: conditional
# Put/Update/Delete for alert claims, Query and BatchWriteItem for the sweep's per-workgroup view.
# No Scan, no GetItem, no BatchGetItem (grant_read_write_data would add them, plus
# ConditionCheckItem and DescribeTable).
TABLE_ACTIONS = contract.STATE_TABLE_ACTIONS
# The same calls as DynamoDB names them in its per-operation metrics (the Operation dimension).
OPERATIONS = tuple(action.split(":", 1)[1] for action in TABLE_ACTIONS)


class StateTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=constants.TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=constants.TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=constants.TABLE_TTL_ATTRIBUTE,
            # A few writes per sweep: on-demand costs cents and never throttles a burst of alerts.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The AWS-managed key (aws/dynamodb), not a customer-managed one: the items are session
            # ids, states and alert timestamps, read only by this account's function; the managed
            # key still logs every use in CloudTrail, needs no key policy or grants, and costs
            # nothing. A CMK would add $1/month and a key policy to maintain for no new control.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Dedup state is rebuilt by the next sweeps; `make destroy` should leave nothing behind.
            removal_policy=RemovalPolicy.DESTROY,
        )

    def grant_state_access(self, grantee: iam.IGrantable) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(TABLE_ACTIONS), resources=[self.table.table_arn])
        )

    def metric_sum_over_operations(self, metric_name: str, *, period: Duration, label: str) -> cw.MathExpression:
        """Sum of a per-operation table metric (ThrottledRequests, SystemErrors) over OPERATIONS.

        Written out instead of table.metric_*_for_operations(), which adds the raw series
        ("a + b + ..."): here each term is FILLed with 0, so an operation without a data point in a
        period cannot leave the sum without a value.
        """
        metrics = {
            f"{metric_name.lower()}_{operation.lower()}": self.table.metric(
                metric_name,
                dimensions_map={"TableName": self.table.table_name, "Operation": operation},
                statistic=cw.Stats.SUM,
                period=period,
            )
            for operation in OPERATIONS
        }
        return cw.MathExpression(
            expression=" + ".join(f"FILL({metric_id}, 0)" for metric_id in metrics),
            using_metrics=metrics,
            label=label,
            period=period,
        )

"""Who may speak on the alerts topic, who may use its key, who may call the API, and what the
services mask when a secret gets past the function's redaction (docs/threat-model.md).

The topic, key and API policies are evaluated statement by statement with tests/infra/policy_evaluation.py
(moto enforces none of them); the data protection policies are checked against their documented
grammar and managed data identifier ARNs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks

from infra import data_protection
from infra.config import ConfigError, MonitorConfig
from tests.infra.policy_evaluation import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGION,
    Decision,
    Request,
    UnresolvedValue,
    evaluate,
    resolve,
)
from tests.infra.support import Synthesized, as_list, synthesize
from tests.infra.test_infra_cfn_lint import REGIONS
from tests.infra.test_infra_checkov import ACCEPTED as CHECKOV_ACCEPTED
from tests.infra.test_infra_checkov import CHECKOV

LISTED_ACCOUNTS = ["222222222222", "033333333333"]  # a leading zero: account ids are strings
VPC_ENDPOINT = "vpce-0123456789abcdef0"
OTHER_VPC_ENDPOINT = "vpce-0fedcba9876543210"
# The opt-in security keys, in two variants: cross-account callers on the Regional API with SNS
# message data protection, and a private API reachable through one VPC endpoint.
ACCOUNTS_CONTEXT = {"apiAllowedAccounts": LISTED_ACCOUNTS, "snsDataProtection": True}
PRIVATE_CONTEXT = {"apiAllowedVpcEndpoints": [VPC_ENDPOINT]}
# Both keys at once: a private API that listed accounts may call through the listed endpoint.
BOTH_CONTEXT = {"apiAllowedAccounts": LISTED_ACCOUNTS[:1], "apiAllowedVpcEndpoints": [VPC_ENDPOINT]}
# An operator lists the deploying account itself next to a partner's (validation accepts it: the
# account id is only known at deploy time).
OWN_LISTED_CONTEXT = {"apiAllowedAccounts": [ACCOUNT, LISTED_ACCOUNTS[0]]}
CHECKOV_FLAGS = ["--output", "json", "--quiet", "--skip-download", "--compact"]
CREDENTIAL_ARNS = [
    f"arn:aws:dataprotection::aws:data-identifier/{name}"
    for name in ("AwsSecretKey", "OpenSshPrivateKey", "PgpPrivateKey", "PkcsPrivateKey", "PuttyPrivateKey")
]


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-accounts"), ACCOUNTS_CONTEXT)


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-private"), PRIVATE_CONTEXT)


@pytest.fixture(scope="module")
def fifo(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The FIFO alerts topic, with a standard topic of its own for the alarms (issue 15)."""
    return synthesize(tmp_path_factory.mktemp("cdk-fifo"), {"alertsTopicFifo": True, "scheduleMinutes": 3})


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-both"), BOTH_CONTEXT)


@pytest.fixture(scope="module")
def own_listed(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-own-listed"), OWN_LISTED_CONTEXT)


@pytest.fixture(scope="module", params=["accounts", "private", "both"])
def opt_in(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


# --- the alerts topic: only the monitor speaks ---------------------------------------------------


def _topic(variant: Synthesized, topic_id: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """A topic's ARN (the only one by default) and its policy's statements, resolved to plain values."""
    topic_id = topic_id or variant.only("AWS::SNS::Topic")[0]
    (policy,) = [
        p
        for p in variant.resources("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    topic_arn = resolve({"Ref": topic_id}, variant.data)
    return topic_arn, resolve(policy["Properties"]["PolicyDocument"]["Statement"], variant.data)


def _monitor_role_arn(variant: Synthesized) -> str:
    return str(resolve(variant.stack.resolve(variant.stack.monitor.role.role_arn), variant.data))


def _publish(topic_arn: str, **kwargs: Any) -> Request:
    context = {"aws:SecureTransport": "true", **kwargs.pop("context", {})}
    return Request("sns:Publish", topic_arn, context=context, **kwargs)


def _caller(arn: str, *, identity_allows: bool = True, **context: Any) -> dict[str, Any]:
    """An IAM principal's request: aws:PrincipalArn (a role's ARN for every session of the role)."""
    return {
        "principal_arn": arn,
        "identity_allows": identity_allows,
        "context": {"aws:PrincipalArn": arn, "aws:PrincipalAccount": arn.split(":")[4], **context},
    }


def _alarm(variant: Synthesized, *, account: str = ACCOUNT, name: str | None = None, principal_arn: bool) -> dict:
    """CloudWatch publishing for an alarm; aws:PrincipalArn of a service principal is not documented
    the same everywhere, so the tests try it absent and present."""
    name = name or f"{variant.stack.stack_name}-NoSweepCompleted"
    context = {
        "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}",
        "aws:SourceAccount": account,
        "aws:PrincipalServiceName": "cloudwatch.amazonaws.com",
        "aws:PrincipalIsAWSService": "true",
    }
    if principal_arn:
        context["aws:PrincipalArn"] = "cloudwatch.amazonaws.com"
    return {"service": "cloudwatch.amazonaws.com", "context": context}


def test_the_monitor_role_may_publish(variant: Synthesized) -> None:
    topic_arn, statements = _topic(variant)
    decision = evaluate(statements, _publish(topic_arn, **_caller(_monitor_role_arn(variant))))
    assert decision == Decision("Allow", "AllowTheMonitorRole")


@pytest.mark.parametrize(
    "who",
    [
        f"arn:aws:iam::{ACCOUNT}:user/may-sns-publish-on-star",
        f"arn:aws:iam::{ACCOUNT}:role/AnotherLambdaRole",
        f"arn:aws:iam::{ACCOUNT}:root",
    ],
)
def test_a_forged_publish_by_another_principal_of_this_account_is_denied_explicitly(
    variant: Synthesized, who: str
) -> None:
    """Given a principal of this account whose identity policy allows sns:Publish on "*",
    when it publishes to the alerts topic, then an explicit Deny of the topic policy refuses it."""
    topic_arn, statements = _topic(variant)
    decision = evaluate(statements, _publish(topic_arn, **_caller(who)))
    assert decision == Decision("Deny", "DenyEveryoneButTheMonitorAndThisAccountsAlarms")


def test_without_the_deny_statements_the_same_forged_publish_would_go_through(variant: Synthesized) -> None:
    # The counterfactual: what SNS would do with only the Allow statements (and enforce_ssl).
    topic_arn, statements = _topic(variant)
    allows_only = [s for s in statements if not s.get("Sid", "").startswith("DenyEvery")]
    forged = _publish(topic_arn, **_caller(f"arn:aws:iam::{ACCOUNT}:user/may-sns-publish-on-star"))
    assert evaluate(allows_only, forged).effect == "Allow"


def test_a_principal_of_another_account_is_denied_explicitly(variant: Synthesized) -> None:
    topic_arn, statements = _topic(variant)
    decision = evaluate(statements, _publish(topic_arn, **_caller(f"arn:aws:iam::{OTHER_ACCOUNT}:role/Publisher")))
    assert decision.effect == "Deny"


def test_the_monitor_role_without_tls_is_denied(variant: Synthesized) -> None:
    topic_arn, statements = _topic(variant)
    request = _publish(topic_arn, **_caller(_monitor_role_arn(variant), **{"aws:SecureTransport": "false"}))
    assert evaluate(statements, request) == Decision("Deny", "AllowPublishThroughSSLOnly")


@pytest.mark.parametrize("principal_arn", [False, True], ids=["no-principal-arn", "principal-arn"])
def test_this_stacks_alarms_may_publish(variant: Synthesized, principal_arn: bool) -> None:
    topic_arn, statements = _topic(variant)
    decision = evaluate(statements, _publish(topic_arn, **_alarm(variant, principal_arn=principal_arn)))
    assert decision == Decision("Allow", "AllowThisStacksAlarms")


@pytest.mark.parametrize("principal_arn", [False, True], ids=["no-principal-arn", "principal-arn"])
def test_alarms_of_another_account_are_denied_explicitly(variant: Synthesized, principal_arn: bool) -> None:
    topic_arn, statements = _topic(variant)
    request = _publish(topic_arn, **_alarm(variant, account=OTHER_ACCOUNT, principal_arn=principal_arn))
    assert evaluate(statements, request) == Decision("Deny", "DenyEveryoneButTheMonitorAndThisAccountsAlarms")


def test_an_alarm_of_another_stack_is_not_allowed(variant: Synthesized) -> None:
    topic_arn, statements = _topic(variant)
    request = _publish(topic_arn, **_alarm(variant, name="SomeoneElsesAlarm", principal_arn=False))
    assert evaluate(statements, request).effect != "Allow"


@pytest.mark.parametrize("service", ["events.amazonaws.com", "s3.amazonaws.com", "lambda.amazonaws.com"])
def test_any_other_service_of_this_account_is_denied_explicitly(variant: Synthesized, service: str) -> None:
    topic_arn, statements = _topic(variant)
    context = {
        "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/forwards-anything",
        "aws:SourceAccount": ACCOUNT,
        "aws:PrincipalServiceName": service,
    }
    decision = evaluate(statements, _publish(topic_arn, service=service, context=context))
    assert decision == Decision("Deny", "DenyEveryServiceButCloudWatch")


def test_with_a_fifo_topic_the_role_speaks_on_it_and_the_alarms_on_their_own_topic(fifo: Synthesized) -> None:
    (fifo_id,) = [k for k, v in fifo.resources("AWS::SNS::Topic").items() if v["Properties"].get("FifoTopic")]
    alarm_topic_id = fifo.data["Outputs"]["AlarmTopicArn"]["Value"]["Ref"]
    role, forger = _caller(_monitor_role_arn(fifo)), _caller(f"arn:aws:iam::{ACCOUNT}:user/may-sns-publish-on-star")
    alarm = _alarm(fifo, principal_arn=False)

    topic_arn, statements = _topic(fifo, fifo_id)
    assert evaluate(statements, _publish(topic_arn, **role)) == Decision("Allow", "AllowTheMonitorRole")
    assert evaluate(statements, _publish(topic_arn, **forger)).effect == "Deny"
    assert evaluate(statements, _publish(topic_arn, **alarm)).effect == "Deny"  # alarms have their own topic

    topic_arn, statements = _topic(fifo, alarm_topic_id)
    assert evaluate(statements, _publish(topic_arn, **alarm)) == Decision("Allow", "AllowThisStacksAlarms")
    assert evaluate(statements, _publish(topic_arn, **role)).effect == "Deny"
    assert evaluate(statements, _publish(topic_arn, **forger)).effect == "Deny"


def test_every_alarm_is_named_for_the_stack_so_the_policies_admit_it(variant: Synthesized) -> None:
    # The topic and key policies admit alarm:<stack name>-*; an alarm named otherwise could not notify.
    prefix = f"{variant.stack.stack_name}-"
    names = [a["Properties"]["AlarmName"] for a in variant.resources("AWS::CloudWatch::Alarm").values()]
    assert names and all(isinstance(n, str) and n.startswith(prefix) for n in names)


# --- the function: who may invoke it ------------------------------------------------------------


def test_every_permission_to_invoke_the_function_names_its_source_in_this_stack(variant: Synthesized) -> None:
    """Only this stack's API methods and EventBridge rules may invoke the function (SQS event
    sources poll with the function's role and need no permission)."""
    permissions = variant.resources("AWS::Lambda::Permission").values()
    assert permissions
    for permission in permissions:
        props = permission["Properties"]
        assert props["Principal"] in ("apigateway.amazonaws.com", "events.amazonaws.com")
        source = json.dumps(props["SourceArn"])
        assert any(f'"{logical_id}"' in source for logical_id in variant.data["Resources"]), source


# --- the key: service principals only with source conditions, nothing unused -------------------


def _key_statements(variant: Synthesized) -> list[dict[str, Any]]:
    _, key = variant.only("AWS::KMS::Key")
    return resolve(key["Properties"]["KeyPolicy"]["Statement"], variant.data)


def test_every_service_statement_of_the_key_policy_has_source_conditions(variant: Synthesized) -> None:
    services = [s for s in _key_statements(variant) if "Service" in s["Principal"]]
    assert [s["Principal"]["Service"] for s in services] == ["cloudwatch.amazonaws.com"]
    for statement in services:
        conditions = statement["Condition"]
        assert conditions["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        assert conditions["ArnLike"]["aws:SourceArn"] == (
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{variant.stack.stack_name}-*"
        )
        assert conditions["StringLike"]["kms:EncryptionContext:aws:sns:topicArn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:*"
        assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_the_key_policy_grants_eventbridge_nothing_because_nothing_publishes_through_it(variant: Synthesized) -> None:
    topic_id, _ = variant.only("AWS::SNS::Topic")
    targets = [t for rule in variant.resources("AWS::Events::Rule").values() for t in rule["Properties"]["Targets"]]
    assert targets and all(t["Arn"] != {"Ref": topic_id} for t in targets)
    assert "events.amazonaws.com" not in json.dumps(_key_statements(variant))


def _key_use(variant: Synthesized, service: str, account: str) -> Request:
    topic_arn, _ = _topic(variant)
    context = {
        "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{variant.stack.stack_name}-FunctionErrors",
        "aws:SourceAccount": account,
        "kms:EncryptionContext:aws:sns:topicArn": topic_arn,
    }
    return Request("kms:GenerateDataKey", "*", service=service, context=context)


def test_the_key_serves_this_accounts_alarms_and_no_one_elses(variant: Synthesized) -> None:
    # Only service principals are evaluated here: the key policy's account-root statement delegates
    # IAM principals to their identity policies, which the evaluator does not model for KMS.
    statements = _key_statements(variant)
    assert evaluate(statements, _key_use(variant, "cloudwatch.amazonaws.com", ACCOUNT)).effect == "Allow"
    assert evaluate(statements, _key_use(variant, "cloudwatch.amazonaws.com", OTHER_ACCOUNT)).effect != "Allow"
    assert evaluate(statements, _key_use(variant, "events.amazonaws.com", ACCOUNT)).effect != "Allow"


# --- data protection: the second layer for secrets ---------------------------------------------


def test_every_log_group_masks_credentials_with_the_documented_policy_shape(variant: Synthesized) -> None:
    log_groups = variant.resources("AWS::Logs::LogGroup")
    assert len(log_groups) >= 2  # the function's and the API's access logs
    for log_group in log_groups.values():
        policy = resolve(log_group["Properties"]["DataProtectionPolicy"], variant.data)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", policy["Name"]) and policy["Version"] == "2021-06-01"
        audit, deidentify = policy["Statement"]
        assert audit["Operation"] == {"Audit": {"FindingsDestination": {}}}  # no destination: no log resource policy
        assert deidentify["Operation"] == {"Deidentify": {"MaskConfig": {}}}
        assert audit["DataIdentifier"] == deidentify["DataIdentifier"] == CREDENTIAL_ARNS
        assert audit["Sid"] and deidentify["Sid"] and audit["Sid"] != deidentify["Sid"]


def test_the_topic_has_no_message_data_protection_unless_asked(variant: Synthesized) -> None:
    # SNS message data protection is closed to new customers: the default stack must deploy anywhere.
    assert "DataProtectionPolicy" not in variant.only("AWS::SNS::Topic")[1]["Properties"]


def test_with_sns_data_protection_every_publish_is_masked_for_credentials(accounts: Synthesized) -> None:
    _, topic = accounts.only("AWS::SNS::Topic")
    policy = resolve(topic["Properties"]["DataProtectionPolicy"], accounts.data)
    assert set(policy) == {"Name", "Description", "Version", "Statement"}
    assert re.fullmatch(r"[A-Za-z0-9_-]+", policy["Name"]) and policy["Version"] == "2021-06-01"
    (statement,) = policy["Statement"]
    assert statement == {
        "Sid": "MaskCredentialsOnPublish",
        "DataDirection": "Inbound",  # Deidentify is documented for inbound (Publish) only
        "Principal": ["*"],  # whoever publishes: the monitor, or an alarm whose text carries a secret
        "DataIdentifier": CREDENTIAL_ARNS,
        "Operation": {"Deidentify": {"MaskConfig": {"MaskWithCharacter": "#"}}},
    }


def test_both_layers_name_the_same_identifiers() -> None:
    assert list(data_protection.CREDENTIAL_IDENTIFIERS) == [arn.rsplit("/", 1)[1] for arn in CREDENTIAL_ARNS]


# --- the API: an optional resource policy on top of IAM auth ------------------------------------


def _api(variant: Synthesized) -> dict[str, Any]:
    return variant.only("AWS::ApiGateway::RestApi")[1]["Properties"]


def _api_statements(variant: Synthesized) -> list[dict[str, Any]]:
    """The resource policy's statements, with API Gateway's short resource form expanded."""
    statements = resolve(_api(variant).get("Policy", {"Statement": []})["Statement"], variant.data)
    api_id = variant.only("AWS::ApiGateway::RestApi")[0]
    # API Gateway stores "execute-api:/*" as the API's ARN for every stage, method and path.
    assert all(s["Resource"] == "execute-api:/*" for s in statements)
    return [{**s, "Resource": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*"} for s in statements]


def _invoke(
    variant: Synthesized,
    caller: str,
    *,
    identity_allows: bool = True,
    vpce: str | None = None,
    statements: list[dict[str, Any]] | None = None,
) -> Decision:
    """A SigV4-signed GET /sessions by caller (through endpoint vpce, if given), as API Gateway
    decides it: table A or B, and for a PRIVATE API a resource-policy Allow in any case."""
    statements = _api_statements(variant) if statements is None else statements
    api_id = variant.only("AWS::ApiGateway::RestApi")[0]
    request = _caller(caller, identity_allows=identity_allows, **({"aws:SourceVpce": vpce} if vpce else {}))
    resource = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/v1/GET/sessions"
    private = _api(variant)["EndpointConfiguration"]["Types"] == ["PRIVATE"]
    return evaluate(statements, Request("execute-api:Invoke", resource, **request), private_api=private)


def test_by_default_the_api_has_no_resource_policy_and_stays_regional(variant: Synthesized) -> None:
    props = _api(variant)
    assert "Policy" not in props and props["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    # IAM auth alone: this account's callers by their identity policy, no other account.
    assert _invoke(variant, f"arn:aws:iam::{ACCOUNT}:role/Operator").effect == "Allow"
    assert _invoke(variant, f"arn:aws:iam::{ACCOUNT}:role/NoPermissions", identity_allows=False).effect != "Allow"
    assert _invoke(variant, f"arn:aws:iam::{LISTED_ACCOUNTS[0]}:role/Dashboard").effect != "Allow"


def test_listed_accounts_may_call_and_every_other_account_is_denied_explicitly(accounts: Synthesized) -> None:
    assert _api(accounts)["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    for listed in LISTED_ACCOUNTS:
        assert _invoke(accounts, f"arn:aws:iam::{listed}:role/Dashboard") == Decision("Allow", "AllowTheListedAccounts")
        # Cross-account callers still need their own identity policy.
        assert _invoke(accounts, f"arn:aws:iam::{listed}:role/Dashboard", identity_allows=False).effect != "Allow"
    assert _invoke(accounts, f"arn:aws:iam::{OTHER_ACCOUNT}:role/Dashboard") == Decision(
        "Deny", "DenyEveryOtherAccount"
    )


def test_the_resource_policy_lets_no_principal_of_this_account_in_without_its_identity_policy(
    accounts: Synthesized,
) -> None:
    # In the API's own account a resource-policy Allow alone would admit the caller (table A).
    assert _invoke(accounts, f"arn:aws:iam::{ACCOUNT}:role/Operator").effect == "Allow"
    assert _invoke(accounts, f"arn:aws:iam::{ACCOUNT}:role/NoPermissions", identity_allows=False).effect != "Allow"


def test_listing_the_deploying_account_itself_still_lets_no_principal_of_it_in_without_its_identity_policy(
    own_listed: Synthesized,
) -> None:
    """Given apiAllowedAccounts names the deploying account next to a partner's, when a role of
    the deploying account with no execute-api permission calls, then it is not admitted: the
    listed accounts' Allow excludes the API's own account (aws:PrincipalAccount)."""
    unrelated = f"arn:aws:iam::{ACCOUNT}:role/SomeUnrelatedInstanceRole"
    assert _invoke(own_listed, unrelated, identity_allows=False).effect == "ImplicitDeny"
    assert _invoke(own_listed, f"arn:aws:iam::{ACCOUNT}:role/Operator") == Decision("Allow", "identity policy")
    partner = f"arn:aws:iam::{LISTED_ACCOUNTS[0]}:role/Dashboard"
    assert _invoke(own_listed, partner) == Decision("Allow", "AllowTheListedAccounts")
    assert _invoke(own_listed, f"arn:aws:iam::{OTHER_ACCOUNT}:role/X") == Decision("Deny", "DenyEveryOtherAccount")
    # The counterfactual: without the condition, the same unrelated role would get in.
    unconditioned = [
        {k: v for k, v in s.items() if k != "Condition"} if s["Sid"] == "AllowTheListedAccounts" else s
        for s in _api_statements(own_listed)
    ]
    assert _invoke(own_listed, unrelated, identity_allows=False, statements=unconditioned).effect == "Allow"


def test_with_vpc_endpoints_the_api_is_private_and_other_sources_are_denied(private: Synthesized) -> None:
    props = _api(private)
    assert props["EndpointConfiguration"] == {"Types": ["PRIVATE"], "VpcEndpointIds": [VPC_ENDPOINT]}
    operator = f"arn:aws:iam::{ACCOUNT}:role/Operator"
    allowed = Decision("Allow", "AllowThisAccountThroughTheListedEndpoints")
    assert _invoke(private, operator, vpce=VPC_ENDPOINT) == allowed
    assert _invoke(private, operator, vpce=OTHER_VPC_ENDPOINT) == Decision("Deny", "DenyEveryOtherSourceVpcEndpoint")
    assert _invoke(private, operator) == Decision("Deny", "DenyEveryOtherSourceVpcEndpoint")
    # No account is listed: another account's callers stay out, as without the policy.
    assert _invoke(private, f"arn:aws:iam::{OTHER_ACCOUNT}:role/X", vpce=VPC_ENDPOINT).effect != "Allow"


def test_a_private_api_admits_any_principal_of_this_account_that_comes_through_a_listed_endpoint(
    private: Synthesized,
) -> None:
    """What the private API's Allow admits, as the README and the threat model say: a principal of
    this account with valid SigV4 credentials and no execute-api permission of its own, through a
    listed endpoint (table A: the resource policy's Allow is enough in the API's own account)."""
    nobody = f"arn:aws:iam::{ACCOUNT}:role/NoExecuteApiPermission"
    assert _invoke(private, nobody, identity_allows=False, vpce=VPC_ENDPOINT).effect == "Allow"
    assert _invoke(private, nobody, identity_allows=False, vpce=OTHER_VPC_ENDPOINT).effect == "Deny"


def test_a_private_api_with_only_the_deny_would_answer_no_one(private: Synthesized) -> None:
    # The reviewer's finding: a PRIVATE API needs a resource-policy Allow, or every call fails.
    deny_only = [s for s in _api_statements(private) if s["Effect"] == "Deny"]
    operator = f"arn:aws:iam::{ACCOUNT}:role/Operator"
    assert _invoke(private, operator, vpce=VPC_ENDPOINT, statements=deny_only).effect == "ImplicitDeny"


def test_with_both_keys_listed_accounts_call_through_the_listed_endpoints_only(both: Synthesized) -> None:
    assert _api(both)["EndpointConfiguration"]["Types"] == ["PRIVATE"]
    partner = f"arn:aws:iam::{LISTED_ACCOUNTS[0]}:role/Dashboard"
    assert _invoke(both, partner, vpce=VPC_ENDPOINT) == Decision("Allow", "AllowTheListedAccounts")
    assert _invoke(both, partner, vpce=VPC_ENDPOINT, identity_allows=False).effect == "ImplicitDeny"  # table B
    assert _invoke(both, partner, vpce=OTHER_VPC_ENDPOINT) == Decision("Deny", "DenyEveryOtherSourceVpcEndpoint")
    assert _invoke(both, f"arn:aws:iam::{OTHER_ACCOUNT}:role/X", vpce=VPC_ENDPOINT) == Decision(
        "Deny", "DenyEveryOtherAccount"
    )
    operator = f"arn:aws:iam::{ACCOUNT}:role/Operator"
    assert _invoke(both, operator, vpce=VPC_ENDPOINT) == Decision("Allow", "AllowThisAccountThroughTheListedEndpoints")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"apiAllowedAccounts": "222222222222, 033333333333"}, ("222222222222", "033333333333")),
        ({"apiAllowedAccounts": '["222222222222", "222222222222"]'}, ("222222222222",)),
        ({"apiAllowedAccounts": []}, ()),
        (
            {"apiAllowedVpcEndpoints": "vpce-0123456789abcdef0,vpce-1a2b3c4d"},
            ("vpce-0123456789abcdef0", "vpce-1a2b3c4d"),
        ),
    ],
)
def test_security_keys_parse_their_command_line_forms(context: dict[str, Any], expected: tuple[str, ...]) -> None:
    config = MonitorConfig.from_context(context)
    assert (config.api_allowed_accounts or config.api_allowed_vpc_endpoints) == expected
    assert config.api_resource_policy == bool(expected)


@pytest.mark.parametrize(
    ("key", "raw", "allowed"),
    [
        ("apiAllowedAccounts", [222222222222], "12-digit AWS account ids, as strings"),
        ("apiAllowedAccounts", ["12345"], "12-digit AWS account ids"),
        ("apiAllowedAccounts", "arn:aws:iam::222222222222:root", "12-digit AWS account ids"),
        ("apiAllowedVpcEndpoints", ["vpc-0123456789abcdef0"], "VPC endpoint ids like vpce-0123456789abcdef0"),
        ("apiAllowedVpcEndpoints", ["vpce-XYZ"], "VPC endpoint ids"),
        ("snsDataProtection", "yes", "true or false"),
    ],
)
def test_bad_security_keys_raise_one_readable_line(key: str, raw: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MonitorConfig.from_context({key: raw})
    assert "\n" not in str(caught.value) and f"'{key}'" in str(caught.value) and allowed in str(caught.value)


def test_sns_data_protection_refuses_a_fifo_topic() -> None:
    # SNS message data protection applies to standard topics only.
    with pytest.raises(ConfigError, match="standard topics only") as caught:
        MonitorConfig.from_context({"snsDataProtection": True, "alertsTopicFifo": True, "scheduleMinutes": 3})
    assert "'snsDataProtection'" in str(caught.value) and "'alertsTopicFifo'" in str(caught.value)


def test_the_security_keys_default_to_the_unchanged_stack() -> None:
    config = MonitorConfig.from_context({})
    assert (config.api_allowed_accounts, config.api_allowed_vpc_endpoints, config.sns_data_protection) == (
        (),
        (),
        False,
    )
    assert not config.api_resource_policy


# --- the opt-in variants stay clean in cdk-nag, cfn-lint and checkov ------------------------------


def test_opt_in_variants_have_no_cdk_nag_finding(opt_in: Synthesized) -> None:
    report = AwsSolutionsChecks(opt_in.stack.node.scope).validate_scope(opt_in.stack)
    assert [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations] == []


def test_opt_in_variants_pass_cfn_lint(opt_in: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint_file

    from tests.infra.test_infra_cfn_lint import ACCEPTED_WARNINGS

    matches = lint_file(opt_in.path, ManualArgs(regions=REGIONS))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in ACCEPTED_WARNINGS] == []


def test_opt_in_variants_add_no_checkov_finding(opt_in: Synthesized) -> None:
    if not CHECKOV.exists():
        pytest.fail(f"checkov not installed at {CHECKOV}: run `make test` (it builds .venv-checkov)")
    result = subprocess.run(
        [str(CHECKOV), "-f", str(opt_in.path), "--framework", "cloudformation", *CHECKOV_FLAGS],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    failed = {check["check_id"] for check in report.get("results", {}).get("failed_checks", [])}
    assert failed - set(CHECKOV_ACCEPTED) == set()


# --- the evaluator itself: where it could depart from IAM, it follows IAM or refuses ---------------

_ANY_API = "arn:aws:execute-api:eu-west-1:111111111111:abc/*"
_OPERATOR = "arn:aws:iam::111111111111:role/Operator"


def _deny_unless_endpoint(key: str) -> list[dict[str, Any]]:
    return [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "execute-api:Invoke",
            "Resource": _ANY_API,
            "Condition": {"StringNotEquals": {key: "vpce-1"}},
        }
    ]


@pytest.mark.parametrize("key", ["aws:SourceVpce", "aws:sourceVpce", "AWS:SOURCEVPCE"])
def test_the_evaluator_reads_condition_keys_case_insensitively_as_iam_does(key: str) -> None:
    through_the_endpoint = Request(
        "execute-api:Invoke",
        _ANY_API,
        principal_arn=_OPERATOR,
        identity_allows=True,
        context={"aws:SourceVpce": "vpce-1"},
    )
    elsewhere = Request(
        "execute-api:Invoke",
        _ANY_API,
        principal_arn=_OPERATOR,
        identity_allows=True,
        context={"aws:SourceVpce": "vpce-2"},
    )
    assert evaluate(_deny_unless_endpoint(key), through_the_endpoint).effect == "Allow"
    assert evaluate(_deny_unless_endpoint(key), elsewhere).effect == "Deny"


@pytest.mark.parametrize(
    "value",
    [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/Monitor"},
        {"Fn::If": ["IsProd", "a", "b"]},
        {"Fn::ImportValue": "SharedRoleArn"},
        {"Fn::Join": ["", ["arn:aws:iam::", {"Fn::Sub": "${AWS::AccountId}"}, ":root"]]},
        {"Ref": "AWS::NoSuchPseudoParameter"},
        {"Condition": {"StringEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["Queue", "Arn"]}}}},
    ],
)
def test_the_evaluator_refuses_values_it_cannot_resolve_instead_of_comparing_their_text(value: Any) -> None:
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    with pytest.raises(UnresolvedValue):
        resolve(value, template)


@pytest.mark.parametrize("pattern", ["arn:aws:iam::[0-9]*:role/Monitor", "vpce-[ab]"])
def test_the_evaluator_refuses_character_classes_iam_does_not_have(pattern: str) -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "execute-api:Invoke",
        "Resource": _ANY_API,
        "Condition": {"StringLike": {"aws:PrincipalArn": pattern}},
    }
    request = Request("execute-api:Invoke", _ANY_API, principal_arn=_OPERATOR, context={"aws:PrincipalArn": _OPERATOR})
    with pytest.raises(UnresolvedValue, match="character classes"):
        evaluate([statement], request)


def test_the_evaluator_matches_iam_wildcards_star_and_question_mark() -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": "sns:Pub?ish", "Resource": "arn:aws:sns:*:111111111111:*"}
    publish = Request("sns:Publish", "arn:aws:sns:eu-west-1:111111111111:alerts", principal_arn=_OPERATOR)
    assert evaluate([allow], publish).effect == "Allow"
    elsewhere = Request("sns:Publish", "arn:aws:sns:eu-west-1:222222222222:alerts", principal_arn=_OPERATOR)
    assert evaluate([allow], elsewhere).effect != "Allow"


def test_the_evaluator_lets_a_private_api_answer_only_what_its_resource_policy_allows() -> None:
    # Same account, identity policy allows, no statement matches: a Regional API admits the call
    # (table A), a PRIVATE API does not (it needs a resource-policy Allow).
    request = Request("execute-api:Invoke", _ANY_API, principal_arn=_OPERATOR, identity_allows=True, context={})
    deny_only = _deny_unless_endpoint("aws:SourceVpce")
    through = Request(
        "execute-api:Invoke",
        _ANY_API,
        principal_arn=_OPERATOR,
        identity_allows=True,
        context={"aws:SourceVpce": "vpce-1"},
    )
    assert evaluate([], request).effect == "Allow"
    assert evaluate([], request, private_api=True).effect == "ImplicitDeny"
    assert evaluate(deny_only, through, private_api=True).effect == "ImplicitDeny"
    allow = {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": _ANY_API}
    assert evaluate([allow, *deny_only], through, private_api=True) == Decision("Allow", None)


def test_every_policy_the_security_tests_evaluate_resolves_to_plain_values(
    variant: Synthesized, opt_in: Synthesized
) -> None:
    for stack in (variant, opt_in):
        documents = [p["Properties"]["PolicyDocument"] for p in stack.resources("AWS::SNS::TopicPolicy").values()]
        documents += [k["Properties"]["KeyPolicy"] for k in stack.resources("AWS::KMS::Key").values()]
        documents += [
            a["Properties"]["Policy"]
            for a in stack.resources("AWS::ApiGateway::RestApi").values()
            if "Policy" in a["Properties"]
        ]
        assert documents
        for document in documents:
            assert "Fn::" not in json.dumps(resolve(document, stack.data))


def test_the_readme_states_the_api_throttling_the_stack_sets() -> None:
    from infra import constants

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    security = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    assert f"{constants.API_THROTTLE_RATE_LIMIT} requests per second" in security
    assert f"bursts of {constants.API_THROTTLE_BURST_LIMIT}" in security
    assert "docs/threat-model.md" in security


def test_the_threat_model_points_at_tests_that_exist() -> None:
    """Every "file::test" the threat model cites names a test function in that file."""
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "docs" / "threat-model.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", text))
    assert len(cited) >= 10
    missing = [
        f"{path}::{name}"
        for path, name in sorted(cited)
        if not re.search(rf"^def {name}\(", (repo / path).read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert missing == []

"""A small evaluator of resource-policy statements, for the template tests of who may do what.

Neither moto nor cfn-lint evaluates an SNS topic policy, a KMS key policy or an API Gateway resource
policy, so the security tests evaluate the synthesized statements themselves. This implements the
part of IAM's documented evaluation logic those policies use, and refuses anything else (an
unknown condition operator, NotPrincipal, NotAction) instead of guessing:

- an explicit Deny in any matching statement wins; then an Allow in the resource policy; then,
  for a principal of the resource's own account, an Allow in its identity policy; otherwise the
  request is implicitly denied. For API Gateway, a caller of another account needs both Allows
  ("How API Gateway resource policies affect authorization workflow", tables A and B);
- a PRIVATE API (``private_api=True``) admits no request that no resource-policy Allow matches,
  whatever the caller's identity policy says: API Gateway's guide says a private API cannot be
  deployed without a resource policy and that "until you attach the resource policy to the
  private API, all calls to the API will fail", and its private-API examples always pair the Deny
  of other endpoints with an Allow. Stricter than table A read alone, on purpose: a Deny-only
  policy fails the tests;
- an account principal ("123456789012" or its root ARN) matches every principal of that account.
  IAM's general rule makes an account principal a delegation to the account's identity policies
  instead, but API Gateway does not document which reading execute-api applies, so the evaluator
  takes the wider one and the policies must be safe under both;
- a statement matches when its Principal, Action, Resource and every condition match;
- condition key names are case-insensitive (``aws:sourceVpce`` is ``aws:SourceVpce``), values are
  not (except Bool); actions are case-insensitive, resources are not (IAM User Guide, "IAM JSON
  policy elements: Condition" and "Action");
- a condition key missing from the request: ...IfExists operators are true, Null compares
  presence, negated operators (StringNotEquals, ArnNotEquals, ...) are true, all others false
  (IAM User Guide, "Condition operators"). With several values, a positive operator matches any
  of them, a negated one none of them;
- wildcards are IAM's: ``*`` and ``?`` only. A pattern with ``[`` is refused, because Python's
  fnmatch would read it as a character class that IAM does not have.

CloudFormation values are resolved against a fixed account, Region and partition: Ref and
Fn::GetAtt of the template's own resources become made-up ARNs of the right shape. Any other
intrinsic (Fn::Sub, Fn::If, Fn::ImportValue, ...) is refused, never compared as the text of a dict.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "999999999999"
REGION = "eu-west-1"
PARTITION = "aws"

# How a logical id of the template resolves (Ref, then Fn::GetAtt Arn), by resource type.
_ARN_FORMATS = {
    "AWS::SNS::Topic": ("arn:aws:sns:{region}:{account}:{id}", "arn:aws:sns:{region}:{account}:{id}"),
    "AWS::IAM::Role": ("{id}", "arn:aws:iam::{account}:role/{id}"),
    "AWS::KMS::Key": ("{id}", "arn:aws:kms:{region}:{account}:key/{id}"),
    "AWS::ApiGateway::RestApi": ("{id}", "arn:aws:apigateway:{region}::/restapis/{id}"),
}


def resolve(value: Any, template: dict[str, Any]) -> Any:
    """A CloudFormation value (Ref, Fn::GetAtt, Fn::Join, lists, plain strings) as plain data."""
    if isinstance(value, list):
        return [resolve(item, template) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION}
        if value["Ref"] in pseudo:
            return pseudo[value["Ref"]]
        return _arn(value["Ref"], template, attribute=False)
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", f"unsupported GetAtt {value}"
        return _arn(logical_id, template, attribute=True)
    if set(value) == {"Fn::Join"}:
        delimiter, items = value["Fn::Join"]
        parts = [resolve(item, template) for item in items]
        if not all(isinstance(part, str) for part in parts):
            raise UnresolvedValue(f"Fn::Join of a value that is not a string: {value}")
        return delimiter.join(parts)
    intrinsics = sorted(key for key in value if key == "Ref" or key.startswith("Fn::"))
    if intrinsics:
        raise UnresolvedValue(f"the evaluator does not resolve {', '.join(intrinsics)}: {value}")
    return {key: resolve(item, template) for key, item in value.items()}


class UnresolvedValue(ValueError):
    """A CloudFormation value the evaluator cannot turn into plain data (it refuses to guess)."""


def _arn(logical_id: str, template: dict[str, Any], *, attribute: bool) -> str:
    if logical_id not in template["Resources"]:
        raise UnresolvedValue(f"Ref or Fn::GetAtt of {logical_id}, which is no resource of the template")
    resource_type = template["Resources"][logical_id]["Type"]
    if resource_type not in _ARN_FORMATS:
        raise UnresolvedValue(f"the evaluator has no ARN format for {resource_type} ({logical_id})")
    ref, arn = _ARN_FORMATS[resource_type]
    return (arn if attribute else ref).format(region=REGION, account=ACCOUNT, id=logical_id)


@dataclass(frozen=True)
class Request:
    """Who asks for what, with the request context AWS would build for it."""

    action: str
    resource: str
    principal_arn: str | None = None  # an IAM principal (None for a service principal)
    service: str | None = None  # a service principal's name, e.g. cloudwatch.amazonaws.com
    context: dict[str, Any] = field(default_factory=dict)
    identity_allows: bool = False  # the caller's identity policy allows the action on the resource

    @property
    def account(self) -> str | None:
        return self.principal_arn.split(":")[4] if self.principal_arn else None


@dataclass(frozen=True)
class Decision:
    effect: str  # "Allow", "Deny" (explicit) or "ImplicitDeny"
    sid: str | None = None  # the statement that decided it


def evaluate(
    statements: list[dict[str, Any]],
    request: Request,
    *,
    owner: str = ACCOUNT,
    cross_account_needs_both: bool = True,
    private_api: bool = False,
) -> Decision:
    """The outcome of request against a resource policy of a resource owned by owner.

    ``private_api``: the resource is a PRIVATE API Gateway API, which needs a resource-policy Allow
    for every caller (see the module's docstring).
    """
    matching = [s for s in statements if _matches(s, request)]
    for statement in matching:
        if statement["Effect"] == "Deny":
            return Decision("Deny", statement.get("Sid"))
    resource_allow = next((s for s in matching if s["Effect"] == "Allow"), None)
    same_account = request.account == owner
    if request.service is not None or private_api:  # a service principal has no identity policy
        if resource_allow is None:
            return Decision("ImplicitDeny")
        if request.service is None and not same_account and not request.identity_allows:
            return Decision("ImplicitDeny")  # table B: another account needs its own Allow too
        return Decision("Allow", resource_allow.get("Sid"))
    if same_account and (resource_allow or request.identity_allows):
        return Decision("Allow", resource_allow.get("Sid") if resource_allow else "identity policy")
    if not same_account and resource_allow and (request.identity_allows or not cross_account_needs_both):
        return Decision("Allow", resource_allow.get("Sid"))
    return Decision("ImplicitDeny")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(statement: dict[str, Any], request: Request) -> bool:
    for unsupported in ("NotPrincipal", "NotAction", "NotResource"):
        assert unsupported not in statement, f"the evaluator does not implement {unsupported}"
    return (
        _principal_matches(statement["Principal"], request)
        and any(_like(request.action.lower(), a.lower()) for a in _as_list(statement["Action"]))
        and any(_like(request.resource, r) for r in _as_list(statement.get("Resource", "*")))
        and all(
            _condition(operator, key, expected, request.context)
            for operator, pairs in statement.get("Condition", {}).items()
            for key, expected in pairs.items()
        )
    )


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    assert isinstance(principal, dict) and set(principal) <= {"AWS", "Service"}, f"unsupported Principal {principal}"
    if request.service is not None:
        return request.service in _as_list(principal.get("Service", []))
    for aws in _as_list(principal.get("AWS", [])):
        if aws == "*" or aws == request.principal_arn:
            return True
        # An account (its id or its root ARN) stands for every principal of that account.
        account = aws if aws.isdigit() else (aws.split(":")[4] if aws.endswith(":root") else None)
        if account is not None and account == request.account:
            return True
    return False


def _like(actual: str, pattern: str) -> bool:
    """IAM's wildcard match: ``*`` any run of characters, ``?`` one character, nothing else."""
    if not isinstance(pattern, str):
        raise UnresolvedValue(f"a pattern that is not a string: {pattern!r}")
    if "[" in pattern:
        raise UnresolvedValue(f"'[' in {pattern!r}: IAM has no character classes; the evaluator refuses to guess")
    return fnmatch.fnmatchcase(actual, pattern)


def _equals(actual: str, expected: str) -> bool:
    if not isinstance(expected, str):
        raise UnresolvedValue(f"a condition value that is not a string: {expected!r}")
    return actual == expected


_OPERATORS = {
    "StringEquals": (False, _equals),
    "StringNotEquals": (True, _equals),
    "StringLike": (False, _like),
    "StringNotLike": (True, _like),
    # IAM's ArnEquals and ArnLike behave alike: both take wildcards.
    "ArnEquals": (False, _like),
    "ArnLike": (False, _like),
    "ArnNotEquals": (True, _like),
    "ArnNotLike": (True, _like),
    "Bool": (False, lambda actual, expected: str(actual).lower() == str(expected).lower()),
}


def _lookup(context: dict[str, Any], key: str) -> tuple[bool, Any]:
    """A condition key's value in the request: key names are case-insensitive in IAM."""
    found = [value for name, value in context.items() if name.lower() == key.lower()]
    assert len(found) <= 1, f"the request context names {key} twice, in different cases"
    return (True, found[0]) if found else (False, None)


def _condition(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    present, actual = _lookup(context, key)
    if operator == "Null":
        return str(expected).lower() == ("false" if present else "true")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    assert base in _OPERATORS, f"the evaluator does not implement {operator}"
    negated, compare = _OPERATORS[base]
    if not present:
        return if_exists or negated
    matched = any(compare(str(actual), value) for value in _as_list(expected))
    return not matched if negated else matched

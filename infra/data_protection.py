"""The second layer for secrets: AWS-managed data identifiers for credentials, masked by the services.

The first layer is the function's own redaction (lambda_src/session_monitor/redaction.py), which
hides secret-looking Spark properties before anything is built from a session. These policies
hold even when that code is wrong: CloudWatch Logs masks credentials in the function's and the
API's log groups, and (opt-in, see below) SNS masks them in what is published to the alerts topic.

Data identifiers: the "Credentials" managed data identifiers, the same five in the CloudWatch Logs
and the SNS documentation ("Data identifier ARNs for credential data types"). Their ids are
case-sensitive in the ARN: OpenSshPrivateKey, although the Logs table spells the id OpenSSHPrivateKey.
AwsSecretKey only matches near a keyword (aws_secret_access_key, credentials, secret access key,
secret key, set-awscredential); the private keys need none.

Policy grammar (both services): Name (letters, digits, '-' and '_'), Description, Version
"2021-06-01", Statement [{Sid, DataIdentifier, Operation}]. CloudWatch Logs wants exactly one Audit
and one Deidentify statement over the same identifiers (aws_logs.DataProtectionPolicy writes them;
no audit destination, so no account-wide log resource policy is touched). SNS adds DataDirection
and Principal; Deidentify is for inbound messages only and masks without failing the Publish.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_logs as logs

POLICY_VERSION = "2021-06-01"
POLICY_NAME = "athena-session-monitor-credentials"
CREDENTIAL_IDENTIFIERS: tuple[str, ...] = (
    "AwsSecretKey",
    "OpenSshPrivateKey",
    "PgpPrivateKey",
    "PkcsPrivateKey",
    "PuttyPrivateKey",
)
# SNS's documented example character; the masked value keeps its length, so a reader still sees
# that something was there.
SNS_MASK_CHARACTER = "#"


def identifier_arn(name: str) -> str:
    """A managed data identifier's ARN (arn:PARTITION:dataprotection::aws:data-identifier/NAME)."""
    return f"arn:{Aws.PARTITION}:dataprotection::aws:data-identifier/{name}"


def log_group_policy() -> logs.DataProtectionPolicy:
    """Mask credentials in a log group (an Audit and a Deidentify statement, no audit destination)."""
    return logs.DataProtectionPolicy(
        name=POLICY_NAME,
        description="Mask credentials that reach the athena-session-monitor logs (second layer after redaction)",
        identifiers=[logs.DataIdentifier(name) for name in CREDENTIAL_IDENTIFIERS],
    )


def sns_message_policy() -> dict[str, Any]:
    """Mask credentials in every message published to a standard topic, whoever publishes it."""
    return {
        "Name": POLICY_NAME,
        "Description": "Mask credentials published to the athena-session-monitor alerts topic",
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "MaskCredentialsOnPublish",
                "DataDirection": "Inbound",
                "Principal": ["*"],
                "DataIdentifier": [identifier_arn(name) for name in CREDENTIAL_IDENTIFIERS],
                "Operation": {"Deidentify": {"MaskConfig": {"MaskWithCharacter": SNS_MASK_CHARACTER}}},
            }
        ],
    }

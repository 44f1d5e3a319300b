"""checkov (security policies) on the synthesized templates: every finding fixed or explained.

checkov lives in its own virtual environment (``make test`` builds .venv-checkov from
requirements-checkov.txt) because its dependency pins would fight the function's. It runs with
--skip-download: no network.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.support import Synthesized

CHECKOV = Path(os.environ.get("CHECKOV_BIN", Path(__file__).resolve().parents[2] / ".venv-checkov/bin/checkov"))

# check id -> why the finding is accepted. A finding not listed fails the test; so does a listed
# one that no longer occurs anywhere (the explanation would be stale).
ACCEPTED = {
    "CKV_AWS_27": "the queues use SQS-managed server-side encryption (SqsManagedSseEnabled), which this "
    "check does not recognise; a CMK would add key policies for EventBridge and Lambda for no gain",
    "CKV_AWS_119": "the state table holds session ids, states and SNS message ids, encrypted with the AWS-owned "
    "key; a customer-managed key costs money and adds nothing an auditor needs here",
    "CKV_AWS_158": "the logs are tested to hold no credentials, role ARNs, KMS keys or raw Athena answers; "
    "CloudWatch Logs encrypts them at rest with its own key",
    "CKV_AWS_116": "failed asynchronous invocations go to an on-failure destination (an SQS queue that keeps "
    "the event and the error), which supersedes a Lambda dead-letter queue",
    "CKV_AWS_117": "the function calls only AWS APIs over TLS and reaches nothing inside a VPC; a VPC would "
    "add NAT or endpoints and cold-start cost for no isolation gained",
    "CKV_AWS_173": "the environment holds names and ARNs, no secrets; Lambda encrypts it at rest by default",
    "CKV_AWS_120": "a cache would answer stale session states, the one thing a monitor must not do",
}


@pytest.fixture(scope="module")
def findings(discovery: Synthesized, configured: Synthesized) -> dict[str, set[str]]:
    if not CHECKOV.exists():
        pytest.fail(f"checkov not installed at {CHECKOV}: run `make test` (it builds .venv-checkov)")
    failed: dict[str, set[str]] = {}
    for variant in (discovery, configured):
        result = subprocess.run(
            [
                str(CHECKOV),
                "-f",
                str(variant.path),
                "--framework",
                "cloudformation",
                "--output",
                "json",
                "--quiet",
                "--skip-download",
                "--compact",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        )
        report = json.loads(result.stdout)
        for check in report.get("results", {}).get("failed_checks", []):
            failed.setdefault(check["check_id"], set()).add(check["resource"])
    return failed


def test_every_checkov_finding_is_explained(findings: dict[str, set[str]]) -> None:
    unexplained = {check: sorted(resources) for check, resources in findings.items() if check not in ACCEPTED}
    assert unexplained == {}


def test_no_explanation_is_stale(findings: dict[str, set[str]]) -> None:
    assert sorted(set(ACCEPTED) - set(findings)) == []

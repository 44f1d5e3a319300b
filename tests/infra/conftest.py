"""Infrastructure test fixtures: each stack variant is synthesized once per session (synth is slow)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.infra.support import CONFIGURED_CONTEXT, Synthesized, synthesize


@pytest.fixture(scope="session")
def discovery(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json as committed: no workgroups listed (discovery), inline sweeps."""
    return synthesize(tmp_path_factory.mktemp("cdk-discovery"), {})


@pytest.fixture(scope="session")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Two watched workgroups, SQS fan-out, e-mail subscription, API Gateway logging role owned,
    no CloudTrail events, no state-change events."""
    return synthesize(tmp_path_factory.mktemp("cdk-configured"), CONFIGURED_CONTEXT)


@pytest.fixture(scope="session", params=["discovery", "configured"])
def variant(request: pytest.FixtureRequest) -> Iterator[Synthesized]:
    yield request.getfixturevalue(request.param)

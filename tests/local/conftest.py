"""Fixtures for the local Athena emulator tests: a fixed clock, a served emulator and a real
boto3 client pointed at it (loopback only, dummy credentials)."""

import boto3
import pytest
from botocore.config import Config

from local_mode.athena_emulator import FIXED_START, AthenaEmulator, Clock, EmulatorServer


def athena_client(endpoint_url: str):
    return boto3.client(
        "athena",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # max_attempts counts retries, not attempts: this is one call plus one retry.
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


@pytest.fixture
def emulator():
    emulator = AthenaEmulator(Clock(FIXED_START))
    emulator.add_workgroup("spark-wg")
    yield emulator
    # Every response the tests caused was checked against botocore's model: none may drift.
    assert emulator.shape_errors == []


@pytest.fixture
def server(emulator):
    with EmulatorServer(emulator) as server:
        yield server


@pytest.fixture
def make_athena():
    """A factory: a real boto3 Athena client for an endpoint URL (closed after the test)."""
    clients = []

    def make(endpoint_url: str):
        clients.append(athena_client(endpoint_url))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def athena(server, make_athena):
    return make_athena(server.endpoint_url)

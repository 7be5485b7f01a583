"""Shared fixtures: real sshd hosts on loopback addresses and transports."""

import pytest

from ..local import LocalTransport
from ..ssh import SshTransport
from .sshd_rig import SshdHost


@pytest.fixture(scope="session")
def host_a():
    with SshdHost("127.0.0.2") as rig:
        yield rig


@pytest.fixture(scope="session")
def host_b():
    with SshdHost("127.0.0.3") as rig:
        yield rig


@pytest.fixture
def fresh_host():
    """A host of the test's own, for tests that break its sessions or keys."""
    with SshdHost("127.0.0.4") as rig:
        yield rig


@pytest.fixture
def ssh(host_a):
    with SshTransport(host_a.ssh_config()) as transport:
        yield transport


@pytest.fixture
def local():
    with LocalTransport() as transport:
        yield transport


@pytest.fixture(params=["local", "ssh"])
def transport(request, host_a):
    """Each transport in turn: both must behave the same way."""
    if request.param == "local":
        instance = LocalTransport()
    else:
        instance = SshTransport(host_a.ssh_config())
    with instance:
        yield instance

"""Streaming a command's output from one SSH host into a command on another."""

import hashlib
import os
import threading
import time

import pytest

from ..errors import CommandFailed, ConnectionLost
from ..pipe import pipe
from ..ssh import SshTransport


@pytest.fixture
def two_hosts(host_a, host_b):
    with SshTransport(host_a.ssh_config()) as a, SshTransport(host_b.ssh_config()) as b:
        yield a, b


@pytest.fixture(params=["openssh", "manager"])
def way(request):
    """Both ways between SSH hosts: two OpenSSH clients the kernel joins,
    and through the manager's process (paramiko)."""
    return request.param


def test_pipe_copies_20mb_between_hosts_exactly(two_hosts, way):
    """20+ MB flow from host A to host B, counted and checksummed end to end."""
    a, b = two_hosts
    count = 2_700_000
    expected = "".join(f"{i}\n" for i in range(1, count + 1)).encode()
    assert len(expected) >= 20_000_000
    progress = []
    result = pipe(
        a,
        ["seq", "1", str(count)],
        b,
        ["sha256sum"],
        on_progress=progress.append,
        openssh=way == "openssh",
    )
    assert result.via == way
    assert result.ok, (result.src.stderr.text(), result.dst.stderr.text())
    assert result.bytes_copied == len(expected)
    assert result.src.stdout.total_bytes == len(expected)
    assert result.dst.stdout.text().split()[0] == hashlib.sha256(expected).hexdigest()
    assert progress[-1] == len(expected)
    assert progress == sorted(progress)
    assert result.src.host == a.label
    assert result.dst.host == b.label


def test_failing_source_kills_the_destination(two_hosts, tmp_path, way):
    """When the source fails, the destination is killed before it sees end of input."""
    a, b = two_hosts
    marker = str(tmp_path / "committed")
    started = time.monotonic()
    result = pipe(
        a,
        ["sh", "-c", "head -c 3000000 /dev/zero; echo dump failed >&2; exit 3"],
        b,
        ["sh", "-c", 'cat > /dev/null && touch "$1"', "sh", marker],
        openssh=way == "openssh",
    )
    assert time.monotonic() - started < 10
    assert result.bytes_copied == 3_000_000
    assert result.src.exit_code == 3
    assert result.dst.cancelled
    assert not result.ok
    assert not os.path.exists(marker)
    with pytest.raises(CommandFailed, match="dump failed"):
        result.check()


def test_failing_destination_kills_the_source(two_hosts, way):
    """When the destination stops reading, an endless source is killed."""
    a, b = two_hosts
    started = time.monotonic()
    result = pipe(
        a,
        ["sh", "-c", "while :; do head -c 1000000 /dev/zero; done"],
        b,
        ["sh", "-c", "head -c 10 > /dev/null; exit 4"],
        openssh=way == "openssh",
    )
    assert time.monotonic() - started < 15
    assert result.dst.exit_code == 4
    assert result.src.cancelled
    assert not result.ok


def test_pipe_between_local_and_ssh(local, ssh, tmp_path):
    """Local and SSH transports can be mixed in a pipe."""
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(2_000_000))
    target = tmp_path / "copy.bin"
    result = pipe(
        local,
        ["cat", "--", str(source)],
        ssh,
        ["sh", "-c", 'cat > "$1"', "sh", str(target)],
    )
    assert result.check().bytes_copied == 2_000_000
    assert result.via == "manager"
    assert target.read_bytes() == source.read_bytes()


def test_dropped_source_link_raises_and_kills_the_destination(fresh_host, host_b, way):
    """If the source host's link drops mid-stream, the destination never commits."""
    marker = f"/tmp/dm-pipe-marker-{os.getpid()}-{time.monotonic_ns()}"
    source = SshTransport(fresh_host.ssh_config())
    with SshTransport(host_b.ssh_config()) as target:
        source.connect()
        threading.Timer(1.0, fresh_host.kill_sessions).start()
        started = time.monotonic()
        with pytest.raises(ConnectionLost) as info:
            pipe(
                source,
                ["sh", "-c", "while :; do head -c 100000 /dev/zero; sleep 0.1; done"],
                target,
                ["sh", "-c", 'cat > /dev/null && touch "$1"', "sh", marker],
                openssh=way == "openssh",
            )
        assert time.monotonic() - started < 10
    # The source command outlived its link; stop it.
    assert source.kill_process_group(info.value.pgid)
    source.close()
    time.sleep(0.5)
    assert not os.path.exists(marker)

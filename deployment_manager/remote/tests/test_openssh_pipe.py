"""Streams between two SSH hosts through the OpenSSH client, with the
pinned host keys, on real sshd hosts."""

import dataclasses
import hashlib
import os
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from ..errors import CommandFailed, ConnectionLost, HostKeyChanged, RemoteError
from ..openssh import OpenSshClient, usable
from ..pipe import pipe
from ..ssh import SshTransport

SECRET = "pg-secret-5be1d0"


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Where the stream's private directory goes: watched by the test."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def two_hosts(host_a, host_b):
    with SshTransport(host_a.ssh_config()) as a, SshTransport(host_b.ssh_config()) as b:
        yield a, b


def _alive(pid):
    """A process that runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _read_pid(path):
    with open(path) as handle:
        return int(handle.read())


def _clients_running():
    """The command lines of the OpenSSH clients streams run now."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                argv = handle.read().decode().split("\0")
        except OSError:
            continue
        if argv[0] == "ssh" and "HostKeyAlias=dm-pinned-host" in argv:
            found.append(argv)
    return found


def _option(argv, name):
    for value in argv:
        if value.startswith(f"{name}="):
            return value.split("=", 1)[1]
    return None


def test_stream_goes_host_to_host_through_openssh_with_the_pinned_keys(
    two_hosts, host_a, host_b, tmp_path, private_tmp
):
    """30 MB arrive identical; meanwhile each OpenSSH client checks its host
    strictly against a known_hosts file holding only the pinned key, in a
    private directory that is gone afterwards."""
    a, b = two_hosts
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(30_000_000))
    target = tmp_path / "copy.bin"
    seen = []

    def on_progress(copied):
        if not seen:
            seen.extend(_clients_running())
        assert copied >= 0

    result = pipe(
        a,
        ["cat", "--", str(source)],
        b,
        ["sh", "-c", '[ "$DM_CHECK" = yes ] && cat > "$1"', "sh", str(target)],
        dst_env={"DM_CHECK": "yes"},
        on_progress=on_progress,
        openssh=True,
    )
    assert result.via == "openssh"
    assert result.check().bytes_copied == 30_000_000
    assert result.src.stdout.total_bytes == 30_000_000
    assert hashlib.sha256(target.read_bytes()).digest() == (
        hashlib.sha256(source.read_bytes()).digest()
    )
    assert len(seen) == 2
    pins = {}
    for argv in seen:
        assert _option(argv, "StrictHostKeyChecking") == "yes"
        assert _option(argv, "BatchMode") == "yes"
        assert argv[argv.index("-F") + 1] == "none"
        private = os.path.dirname(argv[argv.index("-i") + 1])
        assert os.path.dirname(private) == str(private_tmp)
        known_hosts = _option(argv, "UserKnownHostsFile")
        assert os.path.dirname(known_hosts) == private
        port = argv[argv.index("-p") + 1]
        pins[port] = known_hosts
    # Gone with the stream, as is everything it wrote.
    assert os.listdir(private_tmp) == []
    assert set(pins) == {str(host_a.port), str(host_b.port)}


def test_key_and_pin_are_private_and_the_key_goes_once_connected(
    two_hosts, host_a, private_tmp
):
    """The client's directory is 0700, the key and the pin 0600, the pin
    the host's key alone; once the commands run the key file is gone
    already (a worker killed mid-stream leaves no key), the pin stays until
    the end."""
    a, b = two_hosts
    with OpenSshClient(a) as client:
        key = client.argv(["true"])[client.argv(["true"]).index("-i") + 1]
        directory = os.path.dirname(key)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        with open(key) as handle:
            assert handle.read().strip() == host_a.client_key_text.strip()
    assert not os.path.exists(directory)
    seen = {}

    def look(copied):
        for argv in _clients_running():
            known_hosts = _option(argv, "UserKnownHostsFile")
            with open(known_hosts) as handle:
                pin = handle.read()
            seen[argv[argv.index("-p") + 1]] = (
                os.path.exists(argv[argv.index("-i") + 1]),
                stat.S_IMODE(os.stat(os.path.dirname(known_hosts)).st_mode),
                stat.S_IMODE(os.stat(known_hosts).st_mode),
                pin,
            )

    pipe(
        a,
        ["sh", "-c", "head -c 1000 /dev/zero; sleep 1"],
        b,
        ["sh", "-c", "cat > /dev/null"],
        on_progress=look,
        openssh=True,
    ).check()
    key_left, directory_mode, pin_mode, pin = seen[str(host_a.port)]
    assert not key_left
    assert (directory_mode, pin_mode) == (0o700, 0o600)
    assert pin == f"dm-pinned-host {host_a.host_key_type} {host_a.host_key_base64}\n"
    assert os.listdir(private_tmp) == []


@pytest.mark.parametrize("wrong", ["source", "target"])
def test_a_wrong_pinned_key_is_refused_and_nothing_runs(
    host_a, host_b, tmp_path, private_tmp, wrong
):
    """Host A pinned with host B's key: the OpenSSH client refuses it,
    HostKeyChanged says both fingerprints, and neither command ran — not
    even on the host whose key was right."""
    configs = {"source": host_a.ssh_config(), "target": host_b.ssh_config()}
    impostor = host_b if wrong == "source" else host_a
    configs[wrong] = dataclasses.replace(
        configs[wrong], pinned_key_base64=impostor.host_key_base64
    )
    ran = tmp_path / "ran"
    with (
        SshTransport(configs["source"]) as a,
        SshTransport(configs["target"]) as b,
        pytest.raises(HostKeyChanged) as caught,
    ):
        pipe(
            a,
            ["sh", "-c", 'echo source >> "$1"; echo data', "sh", str(ran)],
            b,
            ["sh", "-c", 'echo target >> "$1"; cat > /dev/null', "sh", str(ran)],
            openssh=True,
        )
    error = caught.value
    right = host_a if wrong == "source" else host_b
    assert error.reason == "host_key_changed"
    assert error.expected_fingerprint == impostor.host_key_fingerprint
    assert error.presented_fingerprint == right.host_key_fingerprint
    assert f":{right.port}" in str(error)
    time.sleep(0.5)
    assert not ran.exists()
    assert os.listdir(private_tmp) == []


def test_cancel_kills_both_sides(two_hosts, tmp_path):
    """A cancel during an endless stream stops the commands on both hosts;
    the destination never sees the end of its input."""
    a, b = two_hosts
    src_pid, dst_pid = tmp_path / "src.pid", tmp_path / "dst.pid"
    committed = tmp_path / "committed"
    cancel = threading.Event()
    threading.Timer(1.5, cancel.set).start()
    started = time.monotonic()
    result = pipe(
        a,
        [
            "sh",
            "-c",
            'echo $$ > "$1"; while :; do head -c 100000 /dev/zero; sleep 0.05; done',
            "sh",
            str(src_pid),
        ],
        b,
        [
            "sh",
            "-c",
            'echo $$ > "$1"; cat > /dev/null && touch "$2"',
            "sh",
            str(dst_pid),
            str(committed),
        ],
        cancel_event=cancel,
        openssh=True,
    )
    assert time.monotonic() - started < 10
    assert result.src.cancelled and result.dst.cancelled
    assert not result.ok
    assert result.bytes_copied > 0
    time.sleep(0.3)
    assert not _alive(_read_pid(src_pid))
    assert not _alive(_read_pid(dst_pid))
    assert not committed.exists()


def test_timeout_stops_both_sides(two_hosts, tmp_path):
    """Past ``timeout`` seconds both commands are stopped and marked so."""
    a, b = two_hosts
    committed = tmp_path / "committed"
    started = time.monotonic()
    result = pipe(
        a,
        ["sh", "-c", "while :; do head -c 1000 /dev/zero; sleep 0.1; done"],
        b,
        ["sh", "-c", 'cat > /dev/null && touch "$1"', "sh", str(committed)],
        timeout=1.0,
        openssh=True,
    )
    assert time.monotonic() - started < 8
    assert result.src.timed_out and result.dst.timed_out
    assert not committed.exists()
    with pytest.raises(CommandFailed, match="timed out"):
        result.check()


def test_a_source_failing_mid_stream_is_reported_with_its_stderr(
    two_hosts, tmp_path, host_a
):
    """The source dies after 3 MB: its exit code and its stderr (secrets
    masked) are reported, the destination is killed before it sees the end
    of its input, and the private key appears nowhere."""
    a, b = two_hosts
    committed = tmp_path / "committed"
    result = pipe(
        a,
        [
            "sh",
            "-c",
            'head -c 3000000 /dev/zero; echo "dump failed ($PGPASSWORD)" >&2; exit 3',
        ],
        b,
        ["sh", "-c", 'cat > /dev/null && touch "$1"', "sh", str(committed)],
        src_env={"PGPASSWORD": SECRET},
        secrets=[SECRET],
        openssh=True,
    )
    assert result.bytes_copied == 3_000_000
    assert result.src.exit_code == 3
    assert "dump failed (********)" in result.src.stderr_text
    assert result.dst.cancelled
    assert not committed.exists()
    with pytest.raises(CommandFailed) as caught:
        result.check()
    message = str(caught.value)
    assert "exited with code 3" in message and "dump failed" in message
    assert SECRET not in message
    key_lines = host_a.client_key_text.strip().splitlines()[1:-1]
    for text in (message, result.src.stderr_text, result.dst.stderr_text):
        assert not any(line in text for line in key_lines)


def test_a_destination_failing_stops_the_source(two_hosts):
    """The destination stops reading and exits 4: the endless source is
    stopped."""
    a, b = two_hosts
    started = time.monotonic()
    result = pipe(
        a,
        ["sh", "-c", "while :; do head -c 1000000 /dev/zero; done"],
        b,
        ["sh", "-c", "head -c 10 > /dev/null; echo no room >&2; exit 4"],
        openssh=True,
    )
    assert time.monotonic() - started < 6
    assert result.dst.exit_code == 4
    assert "no room" in result.dst.stderr_text
    assert result.src.cancelled


def test_a_dropped_target_link_raises_and_stops_the_source(
    host_a, fresh_host, tmp_path
):
    """The destination's link drops mid-stream: ConnectionLost names the
    destination's process group, and the source is stopped."""
    src_pid = tmp_path / "src.pid"
    target = SshTransport(fresh_host.ssh_config())
    with SshTransport(host_a.ssh_config()) as source:
        threading.Timer(1.0, fresh_host.kill_sessions).start()
        with pytest.raises(ConnectionLost) as caught:
            pipe(
                source,
                [
                    "sh",
                    "-c",
                    (
                        'echo $$ > "$1"; while :; do head -c 10000 /dev/zero; '
                        "sleep 0.05; done"
                    ),
                    "sh",
                    str(src_pid),
                ],
                target,
                # sshd ends the input of a session it loses: the command
                # then waits, as a load still running would.
                ["sh", "-c", "cat > /dev/null; sleep 60"],
                openssh=True,
            )
    assert caught.value.reason == "connection_lost"
    assert fresh_host.address in str(caught.value)
    time.sleep(0.3)
    assert not _alive(_read_pid(src_pid))
    # The destination's command outlived its link; stop it.
    assert target.kill_process_group(caught.value.pgid)
    target.close()


def test_nothing_of_the_key_is_left_behind(two_hosts, host_a, host_b, private_tmp):
    """After streams that succeed, fail or are refused, the temporary
    directory is empty and no error message holds the key."""
    a, b = two_hosts
    keys = [
        line
        for rig in (host_a, host_b)
        for line in rig.client_key_text.strip().splitlines()[1:-1]
    ]
    texts = []
    pipe(a, ["echo", "hello"], b, ["cat"], openssh=True).check()
    failed = pipe(a, ["sh", "-c", "exit 9"], b, ["cat"], openssh=True)
    texts.append(str(pytest.raises(CommandFailed, failed.check).value))
    wrong = dataclasses.replace(
        host_b.ssh_config(), pinned_key_base64=host_a.host_key_base64
    )
    with SshTransport(wrong) as impostor, pytest.raises(RemoteError) as caught:
        pipe(a, ["echo", "x"], impostor, ["cat"], openssh=True)
    texts.append(str(caught.value))
    assert os.listdir(private_tmp) == []
    for text in texts:
        assert not any(line in text for line in keys)


def test_without_the_ssh_client_the_stream_goes_through_the_manager(
    two_hosts, tmp_path, monkeypatch
):
    """No ``ssh`` on the PATH: the same stream, through paramiko."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat"):
        os.symlink(
            subprocess.check_output(["which", tool], text=True).strip(), bin_dir / tool
        )
    monkeypatch.setenv("PATH", str(bin_dir))
    a, b = two_hosts
    result = pipe(a, ["echo", "through paramiko"], b, ["cat"])
    assert result.via == "manager"
    assert result.check().dst.stdout.text() == "through paramiko\n"
    with pytest.raises(RemoteError) as caught:
        pipe(a, ["echo", "x"], b, ["cat"], openssh=True)
    assert caught.value.reason == "openssh_unavailable"


def test_which_hosts_the_openssh_client_serves(host_a, local):
    """An SSH host with a pinned key and a key without passphrase; not a
    local transport, a host whose key is not pinned or needs a passphrase."""
    assert usable(SshTransport(host_a.ssh_config()))
    assert not usable(local)
    assert not usable(SshTransport(host_a.ssh_config(pinned_key_base64=None)))
    assert not usable(SshTransport(host_a.ssh_config(passphrase="secret")))


# -- the source's standard input (src_stdin) ---------------------------------


def _chunks(count, size=100_000, then=None):
    """``count`` chunks of ``size`` bytes, each its own pattern; ``then()``
    is called after them (it may raise, as a manager's full disk would)."""
    for index in range(count):
        yield bytes([65 + index % 26]) * size
    if then is not None:
        then()


@pytest.mark.parametrize("openssh", [True, False], ids=["openssh", "paramiko"])
def test_the_source_reads_its_input_as_the_stream_runs(two_hosts, tmp_path, openssh):
    """What ``src_stdin`` gives reaches the source's standard input in
    order and whole (more than the pipes between hold), then ends; the
    source's output streams meanwhile."""
    a, b = two_hosts
    out = tmp_path / "out"
    result = pipe(
        a,
        ["sh", "-c", "cat"],
        b,
        ["sh", "-c", 'cat > "$1"', "sh", str(out)],
        src_stdin=_chunks(60),
        openssh=openssh,
    )
    assert result.ok, (result.src.stderr_text, result.dst.stderr_text)
    assert (result.via == "openssh") == openssh
    expected = b"".join(_chunks(60))
    assert result.bytes_copied == len(expected) == 6_000_000
    assert out.read_bytes() == expected


@pytest.mark.parametrize("openssh", [True, False], ids=["openssh", "paramiko"])
def test_a_feed_failing_half_way_stops_both_sides(two_hosts, tmp_path, openssh):
    """The source's input cannot be read to its end (the manager's list is
    lost): the source is stopped before its input ends, so it never takes
    half a list for a whole one, the destination never sees the end of its
    input, and the error is raised."""
    a, b = two_hosts
    src_pid, committed = tmp_path / "src.pid", tmp_path / "committed"

    def lost():
        time.sleep(0.5)
        raise OSError("the list is lost")

    started = time.monotonic()
    with pytest.raises(OSError, match="the list is lost"):
        pipe(
            a,
            # Exits 0 at the end of its input, as tar -T - would.
            ["sh", "-c", 'echo $$ > "$1"; cat', "sh", str(src_pid)],
            b,
            ["sh", "-c", 'cat > /dev/null && touch "$1"', "sh", str(committed)],
            src_stdin=_chunks(5, then=lost),
            openssh=openssh,
        )
    assert time.monotonic() - started < 10
    time.sleep(0.3)
    assert not _alive(_read_pid(src_pid))
    assert not committed.exists()


@pytest.mark.parametrize("openssh", [True, False], ids=["openssh", "paramiko"])
def test_a_cancel_while_the_source_reads_its_input(two_hosts, tmp_path, openssh):
    """A cancel while the input is still being written stops both sides;
    the destination never sees the end of its input."""
    a, b = two_hosts
    committed = tmp_path / "committed"
    cancel = threading.Event()

    def slow():
        for _index in range(200):
            yield b"x" * 1000
            if _index == 5:
                cancel.set()
            time.sleep(0.05)

    started = time.monotonic()
    result = pipe(
        a,
        ["sh", "-c", "cat"],
        b,
        ["sh", "-c", 'cat > /dev/null && touch "$1"', "sh", str(committed)],
        src_stdin=slow(),
        cancel_event=cancel,
        openssh=openssh,
    )
    assert time.monotonic() - started < 8
    assert result.src.cancelled and result.dst.cancelled
    assert not result.ok
    time.sleep(0.3)
    assert not committed.exists()


@pytest.mark.parametrize("openssh", [True, False], ids=["openssh", "paramiko"])
def test_a_dropped_source_link_while_it_reads_its_input(
    host_b, fresh_host, tmp_path, openssh
):
    """The source's link drops while its input is being written:
    ConnectionLost, and the destination never sees the end of its input."""
    committed = tmp_path / "committed"

    def endless():
        while True:
            yield b"y" * 10_000
            time.sleep(0.02)

    source = SshTransport(fresh_host.ssh_config())
    with SshTransport(host_b.ssh_config()) as target:
        threading.Timer(1.0, fresh_host.kill_sessions).start()
        with pytest.raises(ConnectionLost):
            pipe(
                source,
                ["sh", "-c", "cat"],
                target,
                ["sh", "-c", 'cat > /dev/null && touch "$1"', "sh", str(committed)],
                src_stdin=endless(),
                openssh=openssh,
            )
    source.close()
    time.sleep(0.3)
    assert not committed.exists()

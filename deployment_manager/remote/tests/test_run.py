"""Running commands on both transports: output, exit codes, timeouts,
cancellation and dropped links."""

import contextlib
import itertools
import os
import random
import shlex
import subprocess
import threading
import time

import pytest

from ..capture import OutputTooLarge
from ..errors import CommandFailed, ConnectionLost, RemoteError
from ..local import LocalTransport
from ..ssh import SshTransport

# 30 MB on each stream, alternating, from a single command.
BIG_OUTPUT = (
    "for i in 1 2 3; do "
    r"head -c 10000000 /dev/zero | tr '\0' a; "
    r"head -c 10000000 /dev/zero | tr '\0' b >&2; "
    "done"
)


def _unique_sleep():
    return f"sleep 60.{random.randrange(10**6):06d}"


def _gone(marker, within=5.0):
    """True once no process has ``marker`` in its command line."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-f", marker], capture_output=True, check=False
        )
        if found.returncode == 1:
            return True
        time.sleep(0.1)
    return False


def _command_lines():
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with (
                contextlib.suppress(OSError),
                open(f"/proc/{pid}/cmdline", "rb") as handle,
            ):
                lines.append(handle.read())
    return lines


def test_large_output_on_both_streams_is_counted_exactly(transport):
    """60 MB over stdout and stderr finish without deadlock, counted to the byte."""
    result = transport.run(["sh", "-c", BIG_OUTPUT + "; exit 3"], timeout=120)
    assert not result.timed_out
    assert result.exit_code == 3
    assert not result.ok
    assert result.stdout.total_bytes == 30_000_000
    assert result.stderr.total_bytes == 30_000_000
    excerpt = result.stdout.excerpt()
    assert len(excerpt) < 70_000
    assert excerpt.startswith("a" * 1000)
    assert "[29934464 bytes omitted]" in excerpt
    assert set(
        result.stderr.excerpt().replace("\n… [29934464 bytes omitted] …\n", "")
    ) == {"b"}
    assert result.stdout.truncated
    assert result.stdout.full_bytes() is None


def test_asking_whole_output_beyond_the_limit_raises(transport):
    """Output past the 8 MiB kept whole cannot be read as if it were whole:
    text() raises, naming the command and the limit, while the journal's
    head and tail excerpt stays as it is."""
    script = r"head -c 9000000 /dev/zero | tr '\0' a; echo; echo the end"
    result = transport.run(["sh", "-c", script], timeout=60)
    assert result.ok
    assert result.stdout.overflowed
    with pytest.raises(OutputTooLarge) as info:
        result.stdout.text()
    error = info.value
    assert isinstance(error, RemoteError)
    assert error.reason == "output_too_large"
    assert error.limit == 8 * 1024 * 1024
    assert error.total == 9_000_009
    message = str(error)
    assert f"The output of `sh -c {shlex.quote(script)}` on {transport.label}" in (
        message
    )
    assert "larger than the 8 MiB kept whole (9000009 bytes so far)" in message
    excerpt = result.stdout.excerpt()
    assert excerpt.startswith("a" * 1000) and excerpt.endswith("a\nthe end\n")
    assert "bytes omitted" in result.stdout.text_or_excerpt()
    assert result.stdout.full_bytes() is None


def test_small_output_is_kept_whole(transport):
    """Output under the spool limit is available in full."""
    result = transport.run(["sh", "-c", "seq 1 100000"])
    assert result.ok
    expected = "".join(f"{i}\n" for i in range(1, 100001)).encode()
    assert result.stdout.full_bytes() == expected
    assert result.stdout.total_bytes == len(expected)


def test_non_zero_exit_is_recorded_and_check_raises(transport):
    """A failing command is reported, not raised, until check() is called."""
    result = transport.run(["sh", "-c", "echo first >&2; echo oops >&2; exit 5"])
    assert result.exit_code == 5
    assert not result.ok
    assert result.host == transport.label
    with pytest.raises(CommandFailed) as info:
        result.check()
    message = str(info.value)
    assert "exited with code 5" in message
    assert "oops" in message
    assert info.value.reason == "command_failed"
    assert info.value.result is result


def test_missing_program_exits_127(transport):
    """A program that does not exist fails like in a shell, with exit code 127."""
    result = transport.run(["dm-no-such-program-xyz"])
    assert result.exit_code == 127
    assert "dm-no-such-program-xyz" in result.stderr.text()


def test_total_timeout_kills_the_process_group(transport):
    """Past the timeout the command and its children are killed and reported."""
    marker = _unique_sleep()
    started = time.monotonic()
    result = transport.run(["sh", "-c", f"{marker}; echo never"], timeout=1)
    assert time.monotonic() - started < 8
    assert result.timed_out
    assert result.timeout_kind == "total"
    assert not result.ok
    assert "never" not in result.stdout.text()
    assert _gone(marker)
    with pytest.raises(CommandFailed, match="timed out after"):
        result.check()


def test_idle_timeout_kills_a_silent_command(transport):
    """A command silent for longer than idle_timeout is killed."""
    marker = _unique_sleep()
    result = transport.run(
        ["sh", "-c", f"echo started; {marker}"], timeout=30, idle_timeout=1
    )
    assert result.timed_out
    assert result.timeout_kind == "idle"
    assert result.duration < 8
    assert result.stdout.text() == "started\n"
    assert _gone(marker)


def test_output_keeps_an_idle_command_alive(transport):
    """Regular output resets the idle timer."""
    result = transport.run(
        ["sh", "-c", "for i in 1 2 3 4; do echo tick; sleep 0.4; done"], idle_timeout=1
    )
    assert result.ok
    assert result.stdout.text() == "tick\n" * 4


def test_cancel_event_stops_the_command(transport):
    """Setting the cancel event kills the command and marks it cancelled."""
    marker = _unique_sleep()
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    result = transport.run(["sh", "-c", marker], cancel_event=cancel)
    assert result.cancelled
    assert not result.timed_out
    assert not result.ok
    assert _gone(marker)


def test_on_output_is_a_regular_heartbeat(transport):
    """on_output receives growing byte counts about every half second."""
    calls = []
    result = transport.run(
        ["sh", "-c", "for i in 1 2 3 4; do echo x; echo y >&2; sleep 0.4; done"],
        on_output=lambda out, err: calls.append((time.monotonic(), out, err)),
    )
    assert result.ok
    assert 2 <= len(calls) <= 5
    assert all(b[0] - a[0] >= 0.45 for a, b in itertools.pairwise(calls))
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)
    assert calls[-1][1] <= 8


def test_stdin_and_env_reach_the_command_but_no_command_line(transport):
    """stdin_data and env are delivered; env values never show in any process's argv."""
    secret = "pa$$ w0rd 'q' $(id)"
    seen = []
    timer = threading.Timer(0.5, lambda: seen.extend(_command_lines()))
    timer.start()
    result = transport.run(
        ["sh", "-c", 'sleep 1; cat; printf "|%s" "$DM_SECRET"'],
        stdin_data=b"input line\n",
        env={"DM_SECRET": secret},
    )
    timer.join()
    assert result.ok, result.stderr.text()
    assert result.stdout.text() == f"input line\n|{secret}"
    assert seen
    assert not [line for line in seen if secret.encode() in line]
    assert secret not in result.display


def test_secrets_are_masked_in_display_and_excerpts(transport):
    """Secrets passed as arguments are masked in the display and the excerpts."""
    result = transport.run(
        ["sh", "-c", 'echo "token=$1" >&2; exit 1', "sh", "hunter2"],
        secrets=["hunter2"],
    )
    assert "hunter2" not in result.display
    assert "********" in result.display
    assert "hunter2" not in result.stderr_text
    with pytest.raises(CommandFailed) as info:
        result.check()
    assert "hunter2" not in str(info.value)


def test_start_streams_stdin_and_stdout(transport):
    """A started command is fed and read incrementally."""
    command = transport.start(["sh", "-c", "tr a-z A-Z; echo done >&2"])
    for _ in range(100):
        command.stdin.write(b"hello ")
    command.close_stdin()
    received = b""
    while chunk := command.stdout_read(7):
        received += chunk
    result = command.wait(timeout=30)
    assert received == b"HELLO " * 100
    assert result.ok
    assert result.stdout.total_bytes == 600
    assert result.stderr.text() == "done\n"


def test_started_command_can_be_killed(transport):
    """kill() stops a started command's whole group."""
    marker = _unique_sleep()
    command = transport.start(["sh", "-c", f"{marker}; echo never"])
    time.sleep(0.3)
    command.kill()
    result = command.wait(timeout=10)
    assert result.cancelled
    assert not result.ok
    assert _gone(marker)


def test_read_text_returns_the_file_or_its_ends(transport, tmp_path):
    """read_text reads small files whole, large ones as head and tail."""
    path = tmp_path / "app.log"
    path.write_text("line one\nline two\n")
    assert transport.read_text(str(path)) == "line one\nline two\n"
    path.write_text("A" * 500 + "B" * 500)
    text = transport.read_text(str(path), max_bytes=100)
    assert text.startswith("A" * 50)
    assert text.endswith("B" * 50)
    assert "900 bytes omitted" in text
    with pytest.raises(RemoteError) as info:
        transport.read_text(str(tmp_path / "missing.log"))
    assert info.value.reason == "read_failed"
    assert "No such file" in str(info.value)


def test_dropped_link_raises_connection_lost(fresh_host):
    """Killing the sshd session mid-command raises ConnectionLost within seconds."""
    transport = SshTransport(fresh_host.ssh_config())
    transport.connect()
    marker = _unique_sleep()
    threading.Timer(1.0, fresh_host.kill_sessions).start()
    started = time.monotonic()
    with pytest.raises(ConnectionLost) as info:
        transport.run(["sh", "-c", marker])
    assert time.monotonic() - started < 6
    assert info.value.reason == "connection_lost"
    # Without a pty nothing signals the command: it is still running, and
    # its process group is known, so it can be stopped after reconnecting.
    assert not _gone(marker, within=0.5)
    assert transport.kill_process_group(info.value.pgid)
    assert _gone(marker)
    assert not transport.kill_process_group(info.value.pgid)
    transport.close()


def test_link_dropped_between_commands_is_reopened_for_the_next(fresh_host):
    """A link that dies while idle does not fail the next command: nothing of
    it was sent, so it runs on a new connection. The command is issued right
    after the kill, before paramiko has read the EOF, so the transport still
    looks alive when the channel is asked for."""
    with SshTransport(fresh_host.ssh_config()) as transport:
        # Kept referenced so that no two clients share an id().
        clients = {}
        for attempt in range(5):
            result = transport.run(["echo", f"attempt {attempt}"])
            assert result.ok
            assert result.stdout.text() == f"attempt {attempt}\n"
            clients[id(transport._client)] = transport._client
            fresh_host.kill_sessions()
        result = transport.run(["echo", "after"])
        assert result.stdout.text() == "after\n"
        clients[id(transport._client)] = transport._client
    # Each kill really cut the link: every command after one used a new one.
    assert len(clients) == 6


def test_use_sudo_prefixes_every_command(tmp_path, monkeypatch):
    """With use_sudo, commands run through `sudo -n --`."""
    stub = tmp_path / "sudo"
    stub.write_text(
        '#!/bin/sh\n[ "$1" = -n ] && [ "$2" = -- ] || exit 99\nshift 2\n'
        'echo sudo >> "$DM_SUDO_LOG"\nexec "$@"\n'
    )
    stub.chmod(0o755)
    log = tmp_path / "sudo.log"
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("DM_SUDO_LOG", str(log))
    transport = LocalTransport(use_sudo=True)
    result = transport.run(["echo", "as root"])
    assert result.stdout.text() == "as root\n"
    assert result.display == "echo 'as root'"
    target = tmp_path / "copy"
    source = tmp_path / "source"
    source.write_bytes(b"payload")
    transport.put_file(str(source), str(target))
    assert target.read_bytes() == b"payload"
    assert log.read_text().count("sudo") >= 3

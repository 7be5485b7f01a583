"""Detached commands: they outlive the SSH link and the calling process."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ..detached import cancel_detached, poll_detached, start_detached, wait_detached
from ..errors import InvalidInput, RemoteError
from ..local import LocalTransport
from ..ssh import SshTransport

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

# The child starts a detached command and then waits to be killed. It
# registers the package like the root conftest does: no Odoo here either.
CHILD = """
import sys, time, types
root, run_dir = sys.argv[1], sys.argv[2]
package = types.ModuleType("deployment_manager")
package.__path__ = [root + "/deployment_manager"]
sys.modules["deployment_manager"] = package
from deployment_manager.remote import LocalTransport, start_detached
handle = start_detached(
    LocalTransport(), ["sh", "-c", "sleep 2; echo out; echo err >&2; exit 7"], run_dir
)
print(handle.pgid, flush=True)
time.sleep(120)
"""


def test_detached_command_survives_a_dropped_ssh_link(fresh_host, tmp_path):
    """A detached command finishes although its transport closed and sessions died."""
    run_dir = str(tmp_path / "runs" / "op-1")
    first = SshTransport(fresh_host.ssh_config())
    handle = start_detached(first, ["sh", "-c", "sleep 2; echo out; exit 7"], run_dir)
    assert handle.run_dir == run_dir
    assert handle.pgid > 1
    assert poll_detached(first, run_dir).state == "running"
    first.close()
    fresh_host.kill_sessions()
    with SshTransport(fresh_host.ssh_config()) as second:
        status = wait_detached(second, run_dir, poll_interval=0.3, timeout=20)
    assert status.state == "done"
    assert status.exit_code == 7
    assert status.stdout_excerpt == "out\n"
    assert status.stdout_bytes == 4
    assert status.stderr_bytes == 0
    assert not status.ok
    assert os.path.exists(os.path.join(run_dir, "argv.json"))


def test_detached_command_survives_the_calling_process(tmp_path):
    """SIGKILL of the Python process that started it does not stop the command."""
    run_dir = str(tmp_path / "run")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, ROOT, run_dir],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pgid = int(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    local = LocalTransport()
    assert poll_detached(local, run_dir).state == "running"
    os.killpg(pgid, 0)  # the group is alive after its starter died
    status = wait_detached(local, run_dir, poll_interval=0.3, timeout=20)
    assert status.state == "done"
    assert status.exit_code == 7
    assert status.stdout_excerpt == "out\n"
    assert status.stderr_excerpt == "err\n"


def test_cancel_stops_a_detached_command(transport, tmp_path):
    """cancel_detached kills the group and reports a cancelled, finished command."""
    run_dir = str(tmp_path / "run")
    start_detached(transport, ["sh", "-c", "echo begun; sleep 60; echo never"], run_dir)
    cancel = threading.Event()
    polls = []
    threading.Timer(0.5, cancel.set).start()
    status = wait_detached(
        transport, run_dir, poll_interval=0.2, cancel_event=cancel, on_poll=polls.append
    )
    assert polls
    assert status.state == "done"
    assert status.cancelled
    assert status.exit_code == 143
    assert status.stdout_excerpt == "begun\n"
    assert poll_detached(transport, run_dir).state == "done"


def test_lost_command_is_reported_lost(transport, tmp_path):
    """A run whose processes vanished without an exit code is "lost"."""
    run_dir = str(tmp_path / "run")
    handle = start_detached(transport, ["sleep", "60"], run_dir)
    os.killpg(handle.pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while poll_detached(transport, run_dir).state == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status = poll_detached(transport, run_dir)
    assert status.state == "lost"
    assert status.exit_code is None


def test_large_detached_output_is_excerpted(transport, tmp_path):
    """Polling returns exact sizes and bounded head/tail excerpts."""
    run_dir = str(tmp_path / "run")
    start_detached(transport, ["sh", "-c", "seq 1 200000; seq 1 10 >&2"], run_dir)
    status = wait_detached(transport, run_dir, poll_interval=0.2, timeout=20)
    expected = "".join(f"{i}\n" for i in range(1, 200001))
    assert status.ok
    assert status.stdout_bytes == len(expected)
    assert status.stdout_excerpt.startswith(expected[:32768])
    assert status.stdout_excerpt.endswith(expected[-32768:])
    assert f"[{len(expected) - 65536} bytes omitted]" in status.stdout_excerpt
    assert status.stderr_excerpt == "".join(f"{i}\n" for i in range(1, 11))


def test_env_reaches_a_detached_command_and_secrets_stay_out(transport, tmp_path):
    """env is passed without a command line; secrets are masked in argv.json."""
    run_dir = str(tmp_path / "run")
    start_detached(
        transport,
        ["sh", "-c", 'printf "%s %s" "$DM_PW" "$1"', "sh", "tok3n"],
        run_dir,
        env={"DM_PW": "pw-value"},
        secrets=["tok3n"],
    )
    status = wait_detached(transport, run_dir, poll_interval=0.2, timeout=20)
    assert status.stdout_excerpt == "pw-value tok3n"
    with open(os.path.join(run_dir, "argv.json")) as handle:
        recorded = handle.read()
    assert "tok3n" not in recorded
    assert "pw-value" not in recorded
    assert stat_mode(run_dir) == 0o700


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_run_dir_must_be_new_and_valid(local, tmp_path):
    """An existing or unsafe run directory is refused."""
    run_dir = str(tmp_path / "run")
    start_detached(local, ["true"], run_dir)
    with pytest.raises(RemoteError) as info:
        start_detached(local, ["true"], run_dir)
    assert info.value.reason == "run_dir_exists"
    for bad in ("/", "relative", "/tmp/../x", "/tmp/x y"):
        with pytest.raises(InvalidInput):
            start_detached(local, ["true"], bad)


def test_cancel_of_a_finished_command_changes_nothing(local, tmp_path):
    """Cancelling after the end keeps the real exit code."""
    run_dir = str(tmp_path / "run")
    start_detached(local, ["sh", "-c", "exit 3"], run_dir)
    wait_detached(local, run_dir, poll_interval=0.1, timeout=10)
    status = cancel_detached(local, run_dir)
    assert status.exit_code == 3
    assert not status.cancelled

"""Detached commands: they outlive the SSH link and the calling process."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from ..detached import (
    _RUNNER,
    NEVER_MADE,
    NOT_STARTED,
    STARTED,
    abandon_detached,
    cancel_detached,
    poll_detached,
    start_detached,
    wait_detached,
)
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


# A launch cut short: what a worker killed mid-launch leaves behind.


def _dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_run_dir_never_made_is_not_started(transport, tmp_path):
    """A launch that never made its run directory never ran the command."""
    status = poll_detached(transport, str(tmp_path / "never-made"))
    assert status.state == "not_started"
    assert status.exit_code is None
    assert status.pgid is None
    assert (status.stdout_bytes, status.stderr_bytes) == (0, 0)
    assert not status.ok


def test_a_launch_stopped_before_its_runner_is_not_started(transport, tmp_path):
    """A run directory with argv.json only: the runner never began, and it
    records its process group before anything else."""
    run_dir = tmp_path / "half-made"
    run_dir.mkdir(mode=0o700)
    (run_dir / "argv.json").write_text('{"argv": ["true"]}')
    status = poll_detached(transport, str(run_dir))
    assert status.state == "not_started"
    assert status.exit_code is None


def test_a_started_command_whose_processes_died_is_lost(transport, tmp_path):
    """A process group recorded, gone, and no exit code: it started and was
    lost (here killed before its runner made the stderr file)."""
    run_dir = tmp_path / "killed"
    run_dir.mkdir(mode=0o700)
    (run_dir / "argv.json").write_text('{"argv": ["sleep", "60"]}')
    pgid = _dead_pid()
    (run_dir / "pgid").write_text(f"{pgid}\n")
    (run_dir / "stdout").write_text("begun\n")
    status = poll_detached(transport, str(run_dir))
    assert status.state == "lost"
    assert status.pgid == pgid
    assert status.exit_code is None
    assert status.stdout_excerpt == "begun\n"


def test_a_running_command_reports_its_process_group(transport, tmp_path):
    """The process group read back is the one the launch returned."""
    run_dir = str(tmp_path / "run")
    handle = start_detached(transport, ["sleep", "30"], run_dir)
    try:
        status = poll_detached(transport, run_dir)
        assert (status.state, status.pgid) == ("running", handle.pgid)
    finally:
        cancel_detached(transport, run_dir)


def test_abandoning_a_launch_never_made_keeps_it_from_starting(transport, tmp_path):
    """The run directory is made, so a launch still under way can never make it."""
    run_dir = str(tmp_path / "work" / "never-made")
    assert abandon_detached(transport, run_dir) == NEVER_MADE
    assert stat_mode(run_dir) == 0o700
    assert poll_detached(transport, run_dir).state == "not_started"
    with pytest.raises(RemoteError) as info:
        start_detached(transport, ["touch", str(tmp_path / "ran")], run_dir)
    assert info.value.reason == "run_dir_exists"
    assert not os.path.exists(tmp_path / "ran")
    # Taken up twice (a worker died after closing it): still closed, same answer.
    assert abandon_detached(transport, run_dir) == NOT_STARTED


def test_abandoning_a_half_made_launch_keeps_its_runner_from_starting(local, tmp_path):
    """A runner that begins after the launch was given up never runs the command."""
    run_dir = tmp_path / "half-made"
    run_dir.mkdir(mode=0o700)
    (run_dir / "argv.json").write_text("{}")
    assert abandon_detached(local, str(run_dir)) == NOT_STARTED
    marker = tmp_path / "ran"
    late = subprocess.run(
        ["sh", "-c", _RUNNER, "sh", str(run_dir), "touch", str(marker)],
        check=False,
        timeout=10,
    )
    assert late.returncode == 0
    assert not marker.exists()
    assert not (run_dir / "exit_code").exists()
    assert poll_detached(local, str(run_dir)).state == "not_started"


def test_a_launch_still_under_way_when_abandoned_never_runs(local, tmp_path):
    """The worker died while its launch hung (here: a slow setsid); the launch
    is given up, then goes on: the command does not run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    inside, release = tmp_path / "inside", tmp_path / "release"
    (bin_dir / "setsid").write_text(
        f"#!/bin/sh\n: > {inside}\n"
        f"while [ ! -e {release} ]; do sleep 0.05; done\n"
        f'exec {shutil.which("setsid")} "$@"\n'
    )
    (bin_dir / "setsid").chmod(0o755)
    run_dir = str(tmp_path / "run")
    marker = tmp_path / "ran"
    errors = []

    def launch():
        try:
            start_detached(
                local,
                ["touch", str(marker)],
                run_dir,
                env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
            )
        except RemoteError as error:
            errors.append(error)

    launcher = threading.Thread(target=launch)
    launcher.start()
    deadline = time.monotonic() + 10
    while not inside.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert poll_detached(local, run_dir).state == "not_started"
    assert abandon_detached(local, run_dir) == NOT_STARTED
    release.touch()
    launcher.join(30)
    assert [error.reason for error in errors] == ["detached_start_failed"]
    assert "this launch was closed before the command started" in str(errors[0])
    time.sleep(0.3)
    assert not marker.exists()
    assert poll_detached(local, run_dir).state == "not_started"


def test_abandoning_a_started_command_leaves_it_running(transport, tmp_path):
    """When the launch won the race, the command is reported started and runs on."""
    run_dir = str(tmp_path / "run")
    start_detached(transport, ["sh", "-c", "sleep 1; exit 4"], run_dir)
    assert abandon_detached(transport, run_dir) == STARTED
    status = wait_detached(transport, run_dir, poll_interval=0.2, timeout=20)
    assert (status.state, status.exit_code) == ("done", 4)


def test_a_poll_with_a_wait_returns_as_soon_as_the_command_ends(transport, tmp_path):
    """Waited for on its host, a command's end is reported at once, not at the
    end of the wait; what it leaves running (a service it started) does not
    hold the wait back."""
    run_dir = str(tmp_path / "run")
    handle = start_detached(
        transport, ["sh", "-c", "sleep 0.5; sleep 60 & exit 3"], run_dir
    )
    try:
        started = time.monotonic()
        status = poll_detached(transport, run_dir, wait=20)
        elapsed = time.monotonic() - started
        assert (status.state, status.exit_code) == ("done", 3)
        assert elapsed < 5
        # Already ended: no wait at all.
        started = time.monotonic()
        assert poll_detached(transport, run_dir, wait=20).state == "done"
        assert time.monotonic() - started < 5
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(handle.pgid, signal.SIGKILL)


def test_a_poll_wait_without_the_runners_lock_is_a_plain_sleep(transport, tmp_path):
    """A command started by a runner that takes no lock (an earlier version)
    is waited for as before: the wait's length, never a busy loop."""
    run_dir = tmp_path / "old-runner"
    run_dir.mkdir(mode=0o700)
    (run_dir / "argv.json").write_text('{"argv": ["sleep", "60"]}')
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (run_dir / "pgid").write_text(f"{sleeper.pid}\n")
        started = time.monotonic()
        status = poll_detached(transport, str(run_dir), wait=0.5)
        assert status.state == "running"
        assert 0.45 <= time.monotonic() - started < 10
    finally:
        sleeper.kill()
        sleeper.wait()

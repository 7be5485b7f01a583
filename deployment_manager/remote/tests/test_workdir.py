"""The work directory: created private, refused when another user could
change it, before a detached command writes anything there.

The tests run as root, so "another user" is nobody (uid 65534).
"""

import os
import signal
import stat
import subprocess

import pytest

from ..detached import cancel_detached, poll_detached, start_detached, wait_detached
from ..errors import RemoteError
from ..workdir import UnsafeWorkDir, ensure_work_dir

NOBODY = 65534


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _hostile(tmp_path, kind):
    """A work directory prepared by someone else; returns (work_dir, the
    directory whose content must stay untouched)."""
    if kind == "owned_by_nobody":
        work = tmp_path / "work"
        work.mkdir(mode=0o700)
        os.chown(work, NOBODY, NOBODY)
        return str(work), str(work)
    if kind == "world_writable":
        work = tmp_path / "work"
        work.mkdir()
        os.chmod(work, 0o777)
        return str(work), str(work)
    if kind == "sticky_world_writable":
        work = tmp_path / "work"
        work.mkdir()
        os.chmod(work, 0o1777)
        return str(work), str(work)
    if kind == "symlink":
        # Even to a directory of ours: the link's owner decides where it
        # points the next time.
        target = tmp_path / "elsewhere"
        target.mkdir(mode=0o700)
        os.symlink(target, tmp_path / "work")
        return str(tmp_path / "work"), str(target)
    assert kind == "parent_owned_by_nobody"
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chown(parent, NOBODY, NOBODY)
    return str(parent / "work"), str(parent)


HOSTILE = [
    "owned_by_nobody",
    "world_writable",
    "sticky_world_writable",
    "symlink",
    "parent_owned_by_nobody",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_work_dir_is_refused_for_a_detached_command(transport, tmp_path, kind):
    """A work directory another user made or may write in is refused before
    the detached command is started, and nothing is written into it."""
    work_dir, untouched = _hostile(tmp_path, kind)
    marker = tmp_path / "ran"
    with pytest.raises(UnsafeWorkDir) as info:
        start_detached(transport, ["touch", str(marker)], f"{work_dir}/run-1")
    error = info.value
    assert error.reason == "work_dir_unsafe"
    assert isinstance(error, RemoteError)
    message = str(error)
    assert work_dir in message
    assert transport.label in message
    if kind == "symlink":
        assert "symbolic link" in message
    elif kind == "parent_owned_by_nobody":
        assert f"{untouched}, owned by nobody (uid {NOBODY}) with mode 0755" in message
        assert "Choose a work directory" in message
    else:
        owner, mode = {
            "owned_by_nobody": (f"nobody (uid {NOBODY})", "0700"),
            "world_writable": ("root (uid 0)", "0777"),
            "sticky_world_writable": ("root (uid 0)", "1777"),
        }[kind]
        assert owner in message and f"mode {mode}" in message
        assert "Remove it or choose another work directory." in message
    assert os.listdir(untouched) == []
    assert not marker.exists()


def test_fresh_work_dir_is_created_private(transport, tmp_path):
    """A missing work directory is made with mode 0700, its missing parents
    with the usual modes, and the detached command runs in it."""
    work_dir = tmp_path / "var" / "lib" / "dm"
    run_dir = str(work_dir / "run-1")
    start_detached(transport, ["sh", "-c", "echo hello"], run_dir)
    status = wait_detached(transport, run_dir, poll_interval=0.2, timeout=20)
    assert status.ok and status.stdout_excerpt == "hello\n"
    assert _mode(work_dir) == 0o700
    assert _mode(tmp_path / "var") == 0o777 & ~_umask()
    assert os.stat(work_dir).st_uid == os.getuid()
    # The next run reuses it as it is.
    start_detached(transport, ["true"], str(work_dir / "run-2"))
    assert _mode(work_dir) == 0o700


def test_existing_private_work_dir_is_accepted(transport, tmp_path):
    """A directory of ours that only we may write in, under /tmp's sticky
    bit, is used as it is (an earlier mkdir -p gave it mode 0755)."""
    work_dir = tmp_path / "work"
    work_dir.mkdir(mode=0o755)
    os.chmod(work_dir, 0o755)
    assert ensure_work_dir(transport, str(work_dir)) == str(work_dir)
    assert _mode(work_dir) == 0o755


@pytest.mark.parametrize("kind", HOSTILE)
def test_ensure_work_dir_refuses_what_start_detached_refuses(transport, tmp_path, kind):
    """The shared helper the operations call gives the same verdict."""
    work_dir, untouched = _hostile(tmp_path, kind)
    with pytest.raises(UnsafeWorkDir) as info:
        ensure_work_dir(transport, work_dir)
    assert info.value.work_dir == work_dir
    assert os.listdir(untouched) == []


def test_work_dir_that_cannot_be_created_is_reported(transport, tmp_path):
    """A path through a file fails with the reason, not as unsafe."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(RemoteError) as info:
        ensure_work_dir(transport, str(tmp_path / "file" / "work"))
    assert info.value.reason == "work_dir_failed"
    assert "cannot be created" in str(info.value)


def _forged_run_dir(tmp_path, victim_pgid):
    """What a local user could leave where a run directory is expected: a
    forged success and the process group of someone else's command."""
    run_dir = tmp_path / "work" / "run-1"
    run_dir.mkdir(parents=True)
    os.chmod(tmp_path / "work", 0o700)
    (run_dir / "pgid").write_text(f"{victim_pgid}\n")
    (run_dir / "stdout").write_text("all good\n")
    os.chown(run_dir, NOBODY, NOBODY)
    return str(run_dir)


@pytest.fixture
def victim():
    """A process group that must survive: the one a forged pgid names."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_poll_and_cancel_refuse_a_run_dir_owned_by_someone_else(
    transport, tmp_path, victim
):
    """A run directory another user owns is neither read nor acted upon:
    its exit code could be forged, and cancel would signal its pgid."""
    run_dir = _forged_run_dir(tmp_path, victim.pid)
    with pytest.raises(RemoteError) as info:
        poll_detached(transport, run_dir)
    assert info.value.reason == "run_dir_unsafe"
    assert run_dir in str(info.value)
    assert f"owner nobody, uid {NOBODY}" in str(info.value)
    (tmp_path / "work" / "run-1" / "exit_code").write_text("0\n")
    with pytest.raises(RemoteError) as info:
        poll_detached(transport, run_dir)
    assert info.value.reason == "run_dir_unsafe"
    with pytest.raises(RemoteError) as info:
        cancel_detached(transport, run_dir)
    assert info.value.reason == "run_dir_unsafe"
    assert victim.poll() is None
    os.killpg(victim.pid, 0)  # still there
    assert sorted(os.listdir(run_dir)) == ["exit_code", "pgid", "stdout"]


def test_poll_and_cancel_refuse_a_run_dir_replaced_by_a_link(transport, tmp_path):
    """A run directory swapped for a symbolic link is refused too."""
    run_dir = tmp_path / "work" / "run-1"
    start_detached(transport, ["sleep", "30"], str(run_dir))
    real = tmp_path / "work" / "moved"
    os.rename(run_dir, real)
    os.symlink(real, run_dir)
    try:
        for call in (poll_detached, cancel_detached):
            with pytest.raises(RemoteError) as info:
                call(transport, str(run_dir))
            assert info.value.reason == "run_dir_unsafe"
            assert "symbolic link" in str(info.value)
    finally:
        pgid = int((real / "pgid").read_text())
        os.killpg(pgid, signal.SIGKILL)
    assert not (real / "cancelled").exists()


def test_missing_run_dir_is_not_called_unsafe(transport, tmp_path):
    """A run directory that was never made is a launch that never happened, not an
    unsafe one."""
    assert poll_detached(transport, str(tmp_path / "gone")).state == "not_started"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""The operations' work directory: made private, refused when another user
could change it, before anything is run or written there."""

import gc
import os
import stat

import pytest

from ..context import OperationFailed, SimpleContext
from ..deploy_base import DEFAULT_WORK_DIR, prepare_work_dir
from ..odoo_control import install_upgrade
from ..spec import EnvironmentSpec

NOBODY = 65534


@pytest.fixture(params=["local", "ssh"])
def transport(request):
    """Each transport in turn (the ssh one on the rig's 127.0.0.7)."""
    return request.getfixturevalue(request.param)


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_defaults_are_private_places():
    """Neither default lies where any local user may create it first."""
    assert DEFAULT_WORK_DIR == "/var/lib/deployment_manager"
    ctx = SimpleContext()
    assert not ctx.work_dir.startswith("/tmp/deployment_manager/")
    assert _mode(ctx.work_dir) == 0o700
    assert os.stat(ctx.work_dir).st_uid == os.getuid()
    os.rmdir(ctx.work_dir)


def test_simple_context_runs_detached_commands_in_its_own_directory(transport):
    """SimpleContext() without a work directory still runs detached commands,
    in a private directory of its own, removed with the context."""
    ctx = SimpleContext()
    status = ctx.run_detached(transport, ["sh", "-c", "echo done"], "check")
    assert status.ok and status.stdout_excerpt == "done\n"
    work_dir = ctx.work_dir
    (run,) = os.listdir(work_dir)
    assert run.startswith("check-")
    assert _mode(work_dir) == 0o700
    del ctx
    gc.collect()
    assert not os.path.exists(work_dir)


def test_prepare_work_dir_creates_it_private(transport, tmp_path):
    """A missing work directory is made with mode 0700."""
    work_dir = str(tmp_path / "lib" / "deployment_manager")
    ctx = SimpleContext(work_dir)
    assert prepare_work_dir(ctx, transport, work_dir) == work_dir
    assert _mode(work_dir) == 0o700
    assert ctx.commands[-1].ok


@pytest.mark.parametrize("kind", ["owned_by_nobody", "world_writable", "symlink"])
def test_prepare_work_dir_refuses_a_hostile_directory(transport, tmp_path, kind):
    """A work directory someone else owns, anyone may write in, or that is a
    link fails the operation, saying what is wrong and how to fix it."""
    work = tmp_path / "work"
    if kind == "symlink":
        (tmp_path / "target").mkdir(mode=0o700)
        os.symlink(tmp_path / "target", work)
    else:
        work.mkdir(mode=0o700)
        if kind == "owned_by_nobody":
            os.chown(work, NOBODY, NOBODY)
        else:
            os.chmod(work, 0o777)
    with pytest.raises(OperationFailed) as info:
        prepare_work_dir(SimpleContext(str(tmp_path / "runs")), transport, str(work))
    message = str(info.value)
    assert f"The work directory {work} on {transport.label}" in message
    if kind == "owned_by_nobody":
        assert f"owned by nobody (uid {NOBODY}) with mode 0700" in message
    elif kind == "world_writable":
        assert "has mode 0777 (owner root (uid 0))" in message
    else:
        assert "symbolic link" in message
    assert "choose another work directory" in message
    assert os.listdir(work) == []


def test_install_refuses_a_hostile_work_dir_before_running_odoo(transport, tmp_path):
    """An install whose work directory belongs to another user stops before
    Odoo runs: its log would have been written there as root."""
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, NOBODY, NOBODY)
    marker = tmp_path / "odoo-ran"
    spec = EnvironmentSpec(
        name="production",
        odoo_argv=["sh", "-c", f"touch {marker}", "odoo"],
        config_path=str(tmp_path / "odoo.conf"),
        db_name="dm_never_used",
        work_dir=str(work),
    )
    ctx = SimpleContext(str(tmp_path / "runs"))
    with pytest.raises(OperationFailed) as info:
        install_upgrade(ctx, transport, spec, install=["sale"], stamp="20240101000000")
    assert f"The work directory {work}" in str(info.value)
    assert not marker.exists()
    assert os.listdir(work) == []

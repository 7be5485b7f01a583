"""Leftovers of operations are removed once older than the retention."""

import os
import secrets
import subprocess
import time
from datetime import datetime, timezone

import pytest

from ...remote import LocalTransport
from ..context import OperationFailed, SimpleContext
from ..retention import drop_old_copies, remove_leftovers
from ..spec import EnvironmentSpec
from .pg import databases_like, drop_database

UTC = timezone.utc

DAY = 86400


def make(path, age_days=0, directory=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if directory:
        os.makedirs(path)
        with open(os.path.join(path, "inside"), "w") as handle:
            handle.write("x")
    else:
        with open(path, "w") as handle:
            handle.write("x")
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


def test_old_leftovers_go_recent_ones_and_modules_stay(tmp_path):
    """Install logs, zips and run directories older than the retention leave the
    work directory; modules set aside and unfinished staging folders leave the
    addons path; recent ones, and the modules themselves, stay."""
    work = tmp_path / "work"
    addons = tmp_path / "addons"
    old = [
        make(str(work / "install-prod-20261001.log"), 30),
        make(str(work / "deploy-20261001.zip"), 30),
        make(str(work / "prod-op12-odoo-stop-ab12cd34"), 30, directory=True),
        make(str(addons / ".previous" / "sale_custom-20261001"), 30, directory=True),
        make(str(addons / ".incoming-20261001"), 30, directory=True),
    ]
    recent = [
        make(str(work / "install-prod-20261129.log"), 2),
        make(str(addons / ".previous" / "sale_custom-20261129"), 2, directory=True),
        make(str(addons / "sale_custom"), 30, directory=True),
    ]
    os.chmod(work, 0o700)
    ctx = SimpleContext(str(work))
    with LocalTransport() as transport:
        result = remove_leftovers(
            ctx, transport, str(work), [str(addons), str(tmp_path / "none")], 14
        )
    assert sorted(result["removed"]) == sorted(old)
    assert not any(os.path.exists(path) for path in old)
    assert all(os.path.exists(path) for path in recent)


def test_retention_of_zero_days_is_refused(tmp_path):
    """Keeping leftovers less than a day would remove what a running operation uses."""
    with (
        LocalTransport() as transport,
        pytest.raises(Exception, match="at least one day"),
    ):
        remove_leftovers(SimpleContext(str(tmp_path)), transport, str(tmp_path), [], 0)


def test_old_copies_of_the_database_are_dropped_with_their_filestores(tmp_path):
    """The databases a restore, a rollback or a replication set aside beside
    the environment's are dropped once their stamp is older than the
    retention, with their filestores; recent ones, rollback points, the
    database itself and other databases with a similar name stay."""
    db = f"dm_copies_{secrets.token_hex(3)}"
    old = [f"{db}_before_20261001000000", f"{db}_failed_20261015120000"]
    stay = [
        db,
        f"{db}_before_20261125000000",  # five days old
        f"{db}_rb_20261001000000",  # a rollback point: its own retention
        f"{db}_before_2026100100000",  # not a stamp
        f"{db}x_before_20261001000000",  # another database's
    ]
    for name in old + stay:
        subprocess.run(["createdb", "--", name], check=True, capture_output=True)
        make(str(tmp_path / "filestore" / name / "ab" / "ab12"))
    try:
        spec = EnvironmentSpec(name="p", db_name=db, data_dir=str(tmp_path))
        ctx = SimpleContext()
        with LocalTransport() as transport:
            dropped = drop_old_copies(
                ctx, transport, spec, 30, now=datetime(2026, 11, 30, tzinfo=UTC)
            )
        assert dropped == sorted(old)
        assert ctx.steps == [f"Drop the old copies of {db}"]
        left = set(databases_like(db)) | set(databases_like(f"{db}x"))
        assert left == set(stay)
        assert sorted(os.listdir(tmp_path / "filestore")) == sorted(stay)
    finally:
        for name in old + stay:
            drop_database(name)


def test_copies_are_kept_at_least_a_day():
    spec = EnvironmentSpec(name="p", db_name="dm_copies_none")
    with LocalTransport() as transport, pytest.raises(OperationFailed) as raised:
        drop_old_copies(SimpleContext(), transport, spec, 0)
    assert "at least one day" in str(raised.value)

"""Leftovers of operations are removed once older than the retention."""

import os
import time

import pytest

from ...remote import LocalTransport
from ..context import SimpleContext
from ..retention import remove_leftovers

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

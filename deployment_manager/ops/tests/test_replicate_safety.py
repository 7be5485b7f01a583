"""A replication on a bad day: a neutralization that fails, a target that
cannot be stopped, a cancel at each step, a worker killed.

Source and target are the real Odoo databases of ``test_replicate.py``, on
this host (the same-host path: rsync); the context is the journal-like one
of ``test_restore_safety.py``.
"""

import dataclasses
import os

import pytest

from ...remote import LocalTransport
from ..context import OperationFailed
from ..neutralize import NeutralizationFailed
from ..replicate import MOVE_FILESTORES_SH, replicate
from .pg import databases_like, psql
from .test_replicate import TEMPLATE, Pair, _build_template, _tree_digests, _write
from .test_restore_safety import (
    Journal,
    Killed,
    checking_the_names,
    stopping,
    swap_sql,
)

STAMP = "20240401000001"


class Scene:
    """A pair whose target already has a filestore: "old" is the target as
    it was, "new" production's copy, neutralized."""

    def __init__(self, pair, work):
        self.pair = pair
        self.work = work
        self.fs_root = os.path.dirname(pair.tgt_fs)
        for index in range(5):
            _write(os.path.join(pair.tgt_fs, "0f", f"old{index}"), b"old" * index)
        self.old_files = _tree_digests(pair.tgt_fs)
        self.old_partners = self.partners(pair.tgt_db)

    @staticmethod
    def partners(db):
        return psql(db, "SELECT id, name FROM res_partner ORDER BY id")

    def replicate(self, ctx, spec=None, **kwargs):
        kwargs.setdefault("neutralize", True)
        with LocalTransport() as local:
            return replicate(
                ctx,
                local,
                self.pair.source,
                local,
                spec or self.pair.target,
                **kwargs,
            )

    def assert_old(self):
        """The target as it was, and nothing the replication made is left."""
        db = self.pair.tgt_db
        assert self.partners(db) == self.old_partners
        assert _tree_digests(self.pair.tgt_fs) == self.old_files
        assert databases_like(db) == [db]
        assert os.listdir(self.fs_root) == [db]
        assert psql(db, "SELECT count(*) FROM ir_mail_server WHERE active") == [["0"]]

    def assert_new(self):
        """Production's rows and files, neutralized; the previous copy kept."""
        db, previous = self.pair.tgt_db, f"{self.pair.tgt_db}_before_{STAMP}"
        assert self.partners(db) == self.partners(self.pair.src_db)
        assert _tree_digests(self.pair.tgt_fs) == _tree_digests(self.pair.src_fs)
        assert self.partners(previous) == self.old_partners
        assert _tree_digests(f"{self.fs_root}/{previous}") == self.old_files
        assert sorted(databases_like(db)) == [db, previous]
        assert sorted(os.listdir(self.fs_root)) == [db, previous]
        assert psql(
            db,
            "SELECT value FROM ir_config_parameter WHERE key = "
            "'database.is_neutralized'",
        ) == [["true"]]


@pytest.fixture(scope="module")
def template():
    _build_template()
    return TEMPLATE


@pytest.fixture
def scene(template, tmp_path):
    pair = Pair(template, str(tmp_path))
    yield Scene(pair, f"{tmp_path}/runs")
    pair.cleanup()


@pytest.mark.parametrize(
    "rule, failure",
    [
        ("UPDATE no_such_table SET x = 1", "rules failed"),
        ("UPDATE ir_cron SET active = true", "is not neutralized"),
    ],
    ids=["a rule that errors", "a rule that undoes the neutralization"],
)
def test_failed_neutralization_leaves_the_target_untouched(scene, rule, failure):
    """The replica is neutralized before the swap: when that fails, it is
    dropped, the target's Odoo was never stopped and its database and
    filestore are as they were; the message says so."""
    ctx = Journal(scene.work)

    with pytest.raises(OperationFailed) as caught:
        scene.replicate(ctx, stamp=STAMP, neutralization_rules=[rule])

    message = str(caught.value)
    assert failure in message
    assert f"previous database {scene.pair.tgt_db} is untouched" in message
    scene.assert_old()
    assert scene.pair.service() == []
    if isinstance(caught.value, NeutralizationFailed):
        failed = [c["name"] for c in caught.value.report["checks"] if not c["ok"]]
        assert failed == ["crons"]


def test_target_without_stop_command_is_refused_before_anything_is_read(scene):
    """Without a stop command the replica would be swapped in under a running
    Odoo: refused before a single command runs, production not read."""
    ctx = Journal(scene.work)
    spec = dataclasses.replace(scene.pair.target, odoo_stop_argv=[])

    with pytest.raises(OperationFailed, match="no command to stop Odoo") as caught:
        scene.replicate(ctx, spec, stamp=STAMP)

    assert "nothing was read or changed" in str(caught.value)
    assert ctx.commands == []
    scene.assert_old()


def checking_the_room(argv, _stdin):
    """The last command before the stream (whose destination creates the
    new database)."""
    return argv[0] == "df"


def copying_the_filestore(argv, _stdin):
    return argv[0] == "rsync" and "--delete" in argv


def moving_the_filestores(argv, _stdin):
    """The one command that moves the current filestore aside and the new
    one in."""
    return argv[:3] == ["sh", "-c", MOVE_FILESTORES_SH]


def neutralizing(argv, _stdin):
    return "neutralize" in argv


@pytest.mark.parametrize(
    "when",
    [
        checking_the_names,
        checking_the_room,
        copying_the_filestore,
        neutralizing,
        "stop",
    ],
    ids=[
        "checking the names",
        "before the copy",
        "after the copy",
        "after the neutralization",
        "after the stop",
    ],
)
def test_cancel_before_the_swap_leaves_the_target_as_it_was(scene, when):
    """Cancelled before the swap: what was made is removed, Odoo started again
    if it was stopped, and the message says the target is untouched."""
    stop = when == "stop"
    ctx = Journal(scene.work, cancel_when=stopping(scene.pair.target) if stop else when)

    with pytest.raises(OperationFailed) as caught:
        scene.replicate(ctx, stamp=STAMP)

    message = str(caught.value)
    assert message.startswith("Cancelled on request.")
    assert f"previous database {scene.pair.tgt_db} is untouched" in message
    scene.assert_old()
    assert scene.pair.service() == (["stop", "start"] if stop else [])


@pytest.mark.parametrize(
    "when",
    ["swap", "filestore"],
    ids=["right after the database swap", "after the filestore swap"],
)
def test_cancel_after_the_swap_comes_too_late(scene, when):
    """After the swap the replication goes on to its end: the target is
    production's neutralized copy, Odoo started, the notes say why."""
    match = swap_sql if when == "swap" else moving_the_filestores
    ctx = Journal(scene.work, cancel_when=match)

    result = scene.replicate(ctx, stamp=STAMP)

    scene.assert_new()
    assert result["neutralization"]["ok"]
    assert result["odoo_started"]
    assert scene.pair.service() == ["stop", "start"]
    assert [note for note in result["notes"] if "too late" in note]


def test_worker_killed_after_the_stop_starts_odoo_again(scene):
    """A stream cannot be re-attached: taken up after the stop, the
    replication removes what it made, starts Odoo again and says so."""
    first = Journal(scene.work, kill_when=stopping(scene.pair.target))
    with pytest.raises(Killed):
        scene.replicate(first, stamp=STAMP, on_state=first.on_state)
    state = first.states[-1]
    assert (state["phase"], state["odoo_stopped"]) == ("stop", True)
    assert databases_like(f"{scene.pair.tgt_db}_replica_{STAMP}")

    second = Journal(scene.work, detached=first.detached)
    with pytest.raises(OperationFailed) as caught:
        scene.replicate(second, stamp=STAMP, resume_state=state)

    message = str(caught.value)
    assert "interrupted before the swap" in message
    assert f"previous database {scene.pair.tgt_db} is untouched" in message
    scene.assert_old()
    assert scene.pair.service() == ["stop", "start"]


def test_worker_killed_after_the_swap_finishes_it(scene):
    """Taken up after the database swap, the replication moves the filestore
    in and starts Odoo: the target is the neutralized copy."""
    first = Journal(scene.work, kill_when=swap_sql)
    with pytest.raises(Killed):
        scene.replicate(first, stamp=STAMP, on_state=first.on_state)
    assert first.states[-1]["phase"] == "swap"

    second = Journal(scene.work, detached=first.detached)
    result = scene.replicate(second, stamp=STAMP, resume_state=first.states[-1])

    scene.assert_new()
    assert result["neutralization"]["ok"]
    assert result["previous_database"] == f"{scene.pair.tgt_db}_before_{STAMP}"
    assert scene.pair.service() == ["stop", "start"]

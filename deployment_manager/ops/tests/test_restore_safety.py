"""A restore on a bad day: cancelled at each step, its worker killed.

The context used here behaves as the operation journal does
(``OperationJournal`` in ``models/operation_journal.py``): a cancel asked
is raised before and after every command while the operation is
cancellable, detached commands are re-attached by key by the next worker,
and the state the operation hands over is kept for that worker.
"""

import dataclasses
import json
import os
import threading

import pytest

from ..context import OperationFailed, SimpleContext
from ..restore import restore_bundle
from .conftest import databases_like, psql
from .test_backup_restore import take_backup, tree_hashes

STAMP = "20240301000001"


class Killed(BaseException):
    """The worker dies: none of the operation's own clean-up runs."""


class Journal(SimpleContext):
    """A context that journals as the Odoo model does.

    ``cancel_when(argv, stdin)``: once a command it matches has ended, a
    cancel is asked (as a person's click reaches the journal at its next
    heartbeat). ``kill_when``: the worker dies once that command has ended.
    ``detached``: statuses of ended detached commands by key, shared with
    the next worker's context.
    """

    def __init__(self, work_dir, cancel_when=None, kill_when=None, detached=None):
        super().__init__(work_dir)
        self.cancel_event = threading.Event()
        self.cancellable = True
        self.cancel_when = cancel_when
        self.kill_when = kill_when
        self.detached = {} if detached is None else detached
        self.states = []

    def on_state(self, state):
        json.dumps(state)  # it is kept in a JSON field
        self.states.append(state)

    def _check_cancelled(self):
        if self.cancellable and self.cancel_event.is_set():
            raise OperationFailed("Cancelled on request.")

    def _ended(self, argv, stdin):
        if self.cancel_when and self.cancel_when(argv, stdin or b""):
            self.cancel_event.set()
        if self.kill_when and self.kill_when(argv, stdin or b""):
            raise Killed(argv)
        self._check_cancelled()

    def run(self, transport, argv, **kwargs):
        self._check_cancelled()
        if self.cancellable:
            kwargs["cancel_event"] = self.cancel_event
        result = super().run(transport, argv, **kwargs)
        self._ended(argv, kwargs.get("stdin_data"))
        return result

    def run_detached(self, transport, argv, key, **kwargs):
        self._check_cancelled()
        if key in self.detached:  # started by an earlier worker: re-attached
            return self.detached[key]
        status = super().run_detached(transport, argv, key, **kwargs)
        self.detached[key] = status
        self._ended(argv, None)
        return status


def swap_sql(_argv, stdin):
    return b"RENAME TO" in stdin


def checking_the_names(_argv, stdin):
    return b"SELECT datname FROM pg_database" in stdin


def verifying_the_dump(argv, _stdin):
    return argv[:3] == ["pg_restore", "-f", "/dev/null"]


def creating_the_new_database(argv, _stdin):
    return argv[0] == "createdb"


def extracting_the_filestore(argv, _stdin):
    return argv[0] == "tar" and any(a.startswith("--transform") for a in argv)


def moving_in(path):
    def match(argv, _stdin):
        return argv[:3] == ["mv", "-T", "--"] and argv[-1] == path

    return match


def stopping(spec):
    def match(argv, _stdin):
        return argv == spec.odoo_stop_argv

    return match


class Scene:
    """A production with a bundle taken, then changed: "old" is how it is
    before the restore, "new" how the bundle has it."""

    def __init__(self, production, local, tmp_path):
        self.production = production
        self.local = local
        self.work = f"{tmp_path}/runs"
        self.log = f"{tmp_path}/service.log"
        production.spec = dataclasses.replace(
            production.spec,
            odoo_stop_argv=["sh", "-c", 'echo stop >> "$1"', "sh", self.log],
            odoo_start_argv=["sh", "-c", 'echo start >> "$1"', "sh", self.log],
        )
        self.spec = production.spec
        self.bundle, manifest = take_backup(
            SimpleContext(work_dir=self.work), local, production
        )
        assert manifest["verification"]["ok"]
        self.new_rows = production.rows()
        self.new_files = tree_hashes(production.filestore)
        psql(production.db, "INSERT INTO partner (name) VALUES ('after the backup')")
        with open(f"{production.filestore}/00/after-the-backup", "wb") as handle:
            handle.write(b"written after the backup")
        self.old_rows = production.rows()
        self.old_files = tree_hashes(production.filestore)
        self.fs_root = os.path.dirname(production.filestore)

    def context(self, **kwargs):
        return Journal(self.work, **kwargs)

    def restore(self, ctx, **kwargs):
        return restore_bundle(ctx, self.local, self.spec, self.bundle, **kwargs)

    def service(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as handle:
            return handle.read().split()

    def assert_old(self):
        """As before the restore, and nothing the restore made is left."""
        db = self.production.db
        assert self.production.rows() == self.old_rows
        assert tree_hashes(self.production.filestore) == self.old_files
        assert databases_like(db) == [db]
        assert os.listdir(self.fs_root) == [db]

    def assert_new(self):
        """The bundle's rows and files, the previous ones kept aside."""
        db = self.production.db
        previous = f"{db}_before_{STAMP}"
        assert self.production.rows() == self.new_rows
        assert tree_hashes(self.production.filestore) == self.new_files
        assert self.production.rows(previous) == self.old_rows
        assert tree_hashes(f"{self.fs_root}/{previous}") == self.old_files
        assert sorted(databases_like(db)) == [db, previous]
        assert sorted(os.listdir(self.fs_root)) == [db, previous]


@pytest.fixture
def scene(fresh_production, local, tmp_path):
    return Scene(fresh_production, local, tmp_path)


@pytest.mark.parametrize(
    "when, stopped",
    [
        (verifying_the_dump, False),
        (checking_the_names, False),
        (creating_the_new_database, False),
        (extracting_the_filestore, False),
        ("stop", True),
    ],
    ids=[
        "verifying the bundle",
        "checking the names",
        "before the copy",
        "after the copy",
        "after the stop",
    ],
)
def test_cancel_before_the_swap_leaves_the_environment_as_it_was(scene, when, stopped):
    """Cancelled before the swap, the restore removes what it made, starts
    Odoo again if it stopped it, and says the database was not touched."""
    when = stopping(scene.spec) if when == "stop" else when
    ctx = scene.context(cancel_when=when)

    with pytest.raises(OperationFailed) as failure:
        scene.restore(ctx, stamp=STAMP)

    message = str(failure.value)
    assert message.startswith("Cancelled on request.")
    assert f"database {scene.production.db} was not touched" in message
    scene.assert_old()
    assert scene.service() == (["stop", "start"] if stopped else [])


@pytest.mark.parametrize(
    "when",
    ["swap", "filestore"],
    ids=["right after the database swap", "after the filestore swap"],
)
def test_cancel_after_the_swap_comes_too_late(scene, when):
    """Once the databases are swapped there is no undo: a cancel asked then
    is not honoured, the restore goes on to its end (Odoo started again) and
    its notes say the cancel came too late."""
    current = scene.production.filestore
    ctx = scene.context(cancel_when=swap_sql if when == "swap" else moving_in(current))

    result = scene.restore(ctx, stamp=STAMP)

    scene.assert_new()
    assert result["odoo_started"]
    assert scene.service() == ["stop", "start"]
    assert result["sources_restored"]
    assert [note for note in result["notes"] if "too late" in note]


def test_worker_killed_after_the_stop_is_taken_up_again(scene):
    """The worker dies right after stopping Odoo: the next one, given the
    saved state, re-attaches to what was done and finishes the restore."""
    first = scene.context(kill_when=stopping(scene.spec))
    with pytest.raises(Killed):
        scene.restore(first, stamp=STAMP, on_state=first.on_state)
    assert first.states[-1]["phase"] == "stop"
    assert first.states[-1]["odoo_stopped"] is True
    assert scene.service() == ["stop"]

    second = scene.context(detached=first.detached)
    result = scene.restore(
        second, on_state=second.on_state, resume_state=first.states[-1]
    )

    scene.assert_new()
    assert scene.service() == ["stop", "start"]
    assert result["odoo_started"] and result["sources_restored"]
    assert second.states[-1]["phase"] == "done"


@pytest.mark.parametrize(
    "when",
    ["swap", "filestore"],
    ids=["right after the database swap", "half-way through the filestore swap"],
)
def test_worker_killed_after_the_swap_finishes_it(scene, when):
    """The worker dies once the databases are swapped, or once the current
    filestore is moved aside: the next one finishes the swap, restores the
    sources and starts Odoo."""
    aside = f"{scene.fs_root}/{scene.production.db}_before_{STAMP}"
    first = scene.context(kill_when=swap_sql if when == "swap" else moving_in(aside))
    with pytest.raises(Killed):
        scene.restore(first, stamp=STAMP, on_state=first.on_state)
    assert first.states[-1]["phase"] == "swap"
    assert scene.service() == ["stop"]

    second = scene.context(detached=first.detached)
    result = scene.restore(second, resume_state=first.states[-1])

    scene.assert_new()
    assert scene.service() == ["stop", "start"]
    assert result["previous_database"] == f"{scene.production.db}_before_{STAMP}"
    assert result["previous_filestore"] == aside
    assert result["sources_restored"]


def test_failed_filestore_move_after_the_swap_says_what_is_where(scene):
    """The new filestore cannot be moved in (its parent directory made read
    only is not enough as root: a file is put where it goes instead): the
    database swap is not undone, Odoo stays stopped, and the message says
    the new database is in place and where each filestore is."""
    db = scene.production.db
    new_fs = f"{scene.fs_root}/{db}_restore_{STAMP}"

    def block_the_move(argv, _stdin):
        if argv[:3] == ["mv", "-T", "--"] and argv[-1].endswith(f"_before_{STAMP}"):
            # The current filestore is aside; something takes its place.
            os.makedirs(f"{scene.production.filestore}/in-the-way/x")
        return False

    ctx = scene.context(cancel_when=block_the_move)
    with pytest.raises(OperationFailed) as failure:
        scene.restore(ctx, stamp=STAMP)

    message = str(failure.value)
    assert f"The new database is in place as {db} but its filestore is not" in message
    assert new_fs in message
    assert scene.production.rows() == scene.new_rows
    assert tree_hashes(new_fs) == scene.new_files
    assert scene.service() == ["stop"]

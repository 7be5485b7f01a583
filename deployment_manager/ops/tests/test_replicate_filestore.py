"""The filestore part of a replication across two hosts, on two real sshd.

The target's previous copy is seeded into the new directory with hard
links, then each host lists its files sorted by path and the manager merges
the two lists as they stream. What the tests check is exact: a file the
replication moved has a new inode in the new directory, an unchanged one
still shares its inode with the previous copy, a deleted one is gone, and
the new directory holds the source's files, content and whole-second mtime.
No database is involved: the filestore step runs on its own.
"""

import importlib
import os
import secrets
import subprocess
import threading
import time

import pytest

from ...remote import LocalTransport, SshTransport
from ...remote.tests.sshd_rig import SshdHost
from ..context import OperationFailed, SimpleContext
from ..replicate import LIST_SORTED_SH, TAR_ALL_FILES_SH, _Replicate
from ..spec import EnvironmentSpec

# The module, for its constants (the package exports replicate(), the function).
replicate_module = importlib.import_module(_Replicate.__module__)

SRC_DB = "dm_fs_src"
TGT_DB = "dm_fs_tgt"
# A whole second, as tar keeps it.
MTIME = 1_700_000_000

# Names that break a naive list: spaces where the record's fields are
# separated by spaces, shell metacharacters, bytes that are not UTF-8, and
# neighbours whose order depends on the byte order (" " < "-" < "." < "/",
# "Z" < "a"), which the hosts' sort and Python must agree on.
ODD_NAMES = [
    "with space",
    " leading space",
    "trailing space ",
    "1 2 3",
    "tab\there",
    "quote'\"",
    "back\\slash",
    "-dash",
    "*star?",
    "$(echo x)",
    "ünïcödé",
    os.fsdecode(b"latin1-\xe9t\xe9"),
    "a b",
    "a-b",
    "a.b",
    "a/b",
    "a0",
    "Zed",
    "alpha",
]


class Context(SimpleContext):
    """A SimpleContext a cancel can be asked of, as the journal's.

    ``cancel_at_progress``: a cancel was asked, and the context learns of it
    at its next progress report, as the journal does at its heartbeat.
    """

    def __init__(self, cancel_at_progress=False):
        super().__init__()
        self.cancel_event = threading.Event()
        self.cancellable = True
        self.cancel_at_progress = cancel_at_progress
        self.progress_messages = []
        self.inputs = []  # (argv, stdin) of each command given one

    def run(self, transport, argv, **kwargs):
        if kwargs.get("stdin_data"):
            self.inputs.append((argv, kwargs["stdin_data"]))
        return super().run(transport, argv, **kwargs)

    def removed(self):
        """The paths every removal command was given."""
        return {
            path
            for argv, stdin in self.inputs
            if "xargs" in argv[2]
            for path in stdin.split(b"\0")
            if path
        }

    def progress(self, percent, message=None):
        super().progress(percent, message)
        self.progress_messages.append(message)
        if self.cancel_at_progress:
            self.cancel_event.set()


@pytest.fixture(scope="module")
def hosts():
    with SshdHost("127.0.0.60") as one, SshdHost("127.0.0.61") as two:
        yield one, two


@pytest.fixture
def transports(hosts):
    one, two = hosts
    with SshTransport(one.ssh_config()) as a, SshTransport(two.ssh_config()) as b:
        yield a, b


class Filestores:
    """A source filestore and the target's previous copy, under tmp_path."""

    def __init__(self, root):
        self.root = root
        self.src_data = os.path.join(root, "src-data")
        self.tgt_data = os.path.join(root, "tgt-data")
        self.source = os.path.join(self.src_data, "filestore", SRC_DB)
        self.previous = os.path.join(self.tgt_data, "filestore", TGT_DB)
        os.makedirs(self.source)

    def write(self, top, name, data, mtime=MTIME):
        path = os.path.join(top, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        os.utime(path, (mtime, mtime))

    def both(self, name, data, mtime=MTIME):
        self.write(self.source, name, data, mtime)
        self.write(self.previous, name, data, mtime)

    def copy(self, transports, ctx=None, stamp="20240501000001"):
        """Run the filestore step; its report and the new directory."""
        source, target = transports
        job = _Replicate(
            ctx or Context(),
            source,
            EnvironmentSpec(
                name="production",
                db_name=SRC_DB,
                data_dir=self.src_data,
                work_dir=os.path.join(self.root, "src-work"),
            ),
            target,
            EnvironmentSpec(
                name="preproduction",
                db_name=TGT_DB,
                data_dir=self.tgt_data,
                work_dir=os.path.join(self.root, "tgt-work"),
            ),
            stamp,
        )
        assert not job.same_host
        job._copy_filestore()
        return job.result["filestore"], f"{job.fs_root}/{job.new}"


@pytest.fixture
def stores(tmp_path):
    return Filestores(str(tmp_path))


def files(top):
    """{relative path (bytes): (inode, size, whole-second mtime, content)}."""
    found = {}
    top = os.fsencode(top)
    for folder, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            info = os.stat(path)
            with open(path, "rb") as handle:
                content = handle.read()
            found[os.path.relpath(path, top)] = (
                info.st_ino,
                info.st_size,
                int(info.st_mtime),
                content,
            )
    return found


def outcome(previous, new):
    """The files the copy moved (a new inode), kept (the previous inode)
    and deleted (gone from the new directory)."""
    moved = {p for p in new if p not in previous or new[p][0] != previous[p][0]}
    kept = set(new) - moved
    return moved, kept, set(previous) - set(new)


def same_files(one, two):
    """Same paths, sizes, whole-second mtimes and contents (inodes aside)."""
    return {p: v[1:] for p, v in one.items()} == {p: v[1:] for p, v in two.items()}


def encoded(names):
    return {os.fsencode(name) for name in names}


def test_only_changed_and_new_files_move_and_gone_files_are_deleted(stores, transports):
    """Changed size, changed mtime and new files move; files the source no
    longer has are deleted; files equal in size and whole second stay hard
    links of the previous copy, whatever their name, and the previous copy
    is not written through."""
    unchanged, moved, replaced, deleted = [], [], [], []
    for index, name in enumerate(ODD_NAMES):
        data = f"content of {index}".encode()
        kind = index % 4
        if kind == 0:
            stores.both(name, data)
            unchanged.append(name)
        elif kind == 1:
            stores.write(stores.source, name, data + b" grown")
            stores.write(stores.previous, name, data)
            moved.append(name)
            replaced.append(name)
        elif kind == 2:
            stores.write(stores.source, name, data)
            moved.append(name)
        else:
            stores.write(stores.previous, name, data)
            deleted.append(name)
    # Same size, mtime one second later: it moves.
    stores.write(stores.source, "3f/touched", b"same size", MTIME + 1)
    stores.write(stores.previous, "3f/touched", b"same size")
    # Only a fraction of a second apart: the same for tar, so it stays.
    stores.write(stores.source, "3f/subsecond", b"same", MTIME + 0.75)
    stores.write(stores.previous, "3f/subsecond", b"same", MTIME + 0.25)
    stores.both("d1/d2/d3/deep unchanged", b"deep")
    stores.write(stores.source, "d1/d2/d3/deep new", b"new and deep")
    stores.write(stores.previous, "d1/d2/gone/deep gone", b"gone")
    moved += ["3f/touched", "d1/d2/d3/deep new"]
    replaced += ["3f/touched"]
    unchanged += ["3f/subsecond", "d1/d2/d3/deep unchanged"]
    deleted += ["d1/d2/gone/deep gone"]
    previous = files(stores.previous)
    ctx = Context()

    report, new_dir = stores.copy(transports, ctx)

    new = files(new_dir)
    assert outcome(previous, new) == (
        encoded(moved),
        encoded(unchanged),
        encoded(deleted),
    )
    # Changed files are unlinked before tar writes them, whatever tar's
    # own habit: never written through into the previous copy's inodes.
    assert ctx.removed() == encoded(replaced + deleted)
    source = files(stores.source)
    assert same_files(new, source)
    assert files(stores.previous) == previous
    moved_bytes = sum(source[p][1] for p in encoded(moved))
    assert report == {
        "method": "tar",
        "files_total": len(source),
        "files_moved": len(moved),
        "bytes_moved": moved_bytes,
        "bytes_streamed": report["bytes_streamed"],
        "files_deleted": len(deleted),
    }
    assert report["bytes_streamed"] > moved_bytes
    # Nothing was written on the source: its work directory was not made.
    assert not os.path.exists(os.path.join(stores.root, "src-work"))


def test_a_name_with_a_newline_is_copied_too(stores, transports):
    """The lists are NUL-separated end to end: a newline is just a byte."""
    stores.write(stores.source, "00/new\nline", b"x")
    stores.both("00/kept", b"y")
    stores.write(stores.previous, "00/gone\nline", b"z")
    previous = files(stores.previous)

    report, new_dir = stores.copy(transports)

    assert outcome(previous, files(new_dir)) == (
        {b"00/new\nline"},
        {b"00/kept"},
        {b"00/gone\nline"},
    )
    assert (report["files_moved"], report["files_deleted"]) == (1, 1)


def test_empty_source_deletes_every_file(stores, transports):
    """A source filestore with only empty directories: every file of the
    previous copy is deleted from the new one (not from the previous)."""
    os.makedirs(os.path.join(stores.source, "aa"))
    for index in range(30):
        stores.write(stores.previous, f"{index % 3:02x}/f{index}", b"old")
    previous = files(stores.previous)

    report, new_dir = stores.copy(transports)

    assert files(new_dir) == {}
    assert files(stores.previous) == previous
    assert report["files_total"] == report["files_moved"] == 0
    assert report["files_deleted"] == 30
    assert report["bytes_streamed"] == 0


@pytest.mark.parametrize("previous_exists", [True, False], ids=["empty", "none"])
def test_empty_or_missing_target_gets_every_file(stores, transports, previous_exists):
    """An empty previous copy, or none at all: every file moves."""
    if previous_exists:
        os.makedirs(stores.previous)
    for index in range(40):
        stores.write(stores.source, f"{index % 4:02x}/f {index}", b"n" * index)

    report, new_dir = stores.copy(transports)

    assert same_files(files(new_dir), files(stores.source))
    assert report["files_total"] == report["files_moved"] == 40
    assert report["bytes_moved"] == sum(range(40))
    assert report["files_deleted"] == 0


def test_a_first_copy_is_one_tar_made_on_the_source(stores, transports):
    """No previous copy: the source host finds its files and sends them in
    one tar, odd names included; no list is made, written or compared, and
    the target counts what it received."""
    for index, name in enumerate(["00/new\nline", "00/a b", "01/-dash", "02/x"]):
        stores.write(stores.source, name, b"z" * (index + 1))
    os.makedirs(os.path.join(stores.source, "ff"))
    os.symlink("/etc/hostname", os.path.join(stores.source, "01", "link"))
    ctx = Context()

    report, new_dir = stores.copy(transports, ctx)

    copied = files(new_dir)
    assert set(copied) == encoded(["00/new\nline", "00/a b", "01/-dash", "02/x"])
    assert not os.path.lexists(os.path.join(new_dir, "01", "link"))
    assert report["files_total"] == report["files_moved"] == 4
    assert report["bytes_moved"] == 1 + 2 + 3 + 4
    assert report["files_deleted"] == 0
    assert report["bytes_streamed"] >= 4 * 512
    commands = [" ".join(result.argv) for result in ctx.commands]
    assert not [c for c in commands if "cat >" in c or "dm-work-dir" in c]
    assert not [m for m in ctx.progress_messages if m and m.startswith("Comparing")]


def test_a_first_copy_fails_when_find_fails(tmp_path):
    """The tar is fed by find, whose status the pipeline would lose: a find
    that fails half-way fails the copy."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "find").write_text(
        "#!/bin/sh\nprintf '%s\\0' a\necho 'find: boom' >&2\nexit 1\n"
    )
    (stub / "find").chmod(0o755)
    (tmp_path / "a").write_bytes(b"a")
    env = {"PATH": f"{stub}:{os.environ['PATH']}"}
    with LocalTransport() as local:
        failed = local.run(["sh", "-c", TAR_ALL_FILES_SH, "sh", str(tmp_path)], env=env)
        good = local.run(["sh", "-c", TAR_ALL_FILES_SH, "sh", str(tmp_path)])
    assert failed.exit_code == 1
    assert "find: boom" in failed.stderr.text()
    assert good.ok


def test_small_reads_and_batches_give_the_same_result(stores, transports, monkeypatch):
    """Records cut across reads, and lists sent in many batches (each
    removal and each part of the list its own journaled command), give
    exactly what one read and one batch give."""
    monkeypatch.setattr(replicate_module, "LIST_READ_CHUNK", 7)
    monkeypatch.setattr(replicate_module, "LIST_BATCH", 100)
    for index in range(60):
        name = f"{index % 5:02x}/file number {index}"
        if index % 3 == 0:
            stores.both(name, b"same")
        elif index % 3 == 1:
            stores.write(stores.source, name, b"changed")
            stores.write(stores.previous, name, b"old")
        else:
            stores.write(stores.previous, name, b"gone")
    stores.write(stores.source, "ff/new", b"new")
    previous = files(stores.previous)
    ctx = Context()

    report, new_dir = stores.copy(transports, ctx)

    moved, kept, deleted = outcome(previous, files(new_dir))
    assert (len(moved), len(kept), len(deleted)) == (21, 20, 20)
    assert same_files(files(new_dir), files(stores.source))
    argvs = [result.argv for result in ctx.commands]
    removals = [a for a in argvs if "xargs" in " ".join(a)]
    assert len(removals) > 3
    assert (report["files_moved"], report["files_deleted"]) == (21, 20)


def test_the_list_of_changed_files_streams_on_the_sources_input(
    stores, transports, monkeypatch
):
    """The list of files to copy reaches the source's tar on its standard
    input, in many pieces: no file is written on the source (its work
    directory is not even made) and no command writes or removes one."""
    monkeypatch.setattr(replicate_module, "LIST_BATCH", 64)
    for index in range(50):
        stores.write(stores.source, f"{index % 4:02x}/new file {index}", b"n" * index)
    stores.both("00/kept", b"kept")
    previous = files(stores.previous)
    ctx = Context()

    report, new_dir = stores.copy(transports, ctx)

    moved, kept, deleted = outcome(previous, files(new_dir))
    assert (len(moved), kept, deleted) == (50, {b"00/kept"}, set())
    assert same_files(files(new_dir), files(stores.source))
    assert not os.path.exists(os.path.join(stores.root, "src-work"))
    commands = [" ".join(result.argv) for result in ctx.commands]
    assert not [c for c in commands if "cat >" in c or "rm -f" in c]
    assert report["files_moved"] == 50


def test_a_list_lost_half_way_stops_the_copy(stores, transports, monkeypatch):
    """The manager's list of files to copy cannot be read to its end (its
    disk failed): the source's tar is stopped before its input ends, so
    the part of the list it got is not taken for the whole, and the copy
    fails saying why."""
    real = replicate_module._PathList.batches

    def lost(self):
        for batch in real(self):
            yield batch
            time.sleep(0.3)
            raise replicate_module._ListNotKept(OSError("disk gone"))

    monkeypatch.setattr(replicate_module._PathList, "batches", lost)
    monkeypatch.setattr(replicate_module, "LIST_BATCH", 64)
    for index in range(20):
        stores.write(stores.source, f"00/file {index}", b"x")
    os.makedirs(stores.previous)

    with pytest.raises(OperationFailed, match="cannot be written: disk gone"):
        stores.copy(transports)


@pytest.mark.parametrize("previous_exists", [True, False], ids=["again", "first"])
def test_a_source_without_filestore_moves_nothing(stores, transports, previous_exists):
    """The source has no filestore: its listing (or its tar) says so, with
    no command of its own; nothing is removed from the new copy."""
    os.rmdir(stores.source)
    if previous_exists:
        stores.write(stores.previous, "00/old", b"old")
    ctx = Context()

    report, new_dir = stores.copy(transports, ctx)

    assert report == {
        "method": "none",
        "files_total": 0,
        "files_moved": 0,
        "bytes_moved": 0,
        "files_deleted": 0,
    }
    assert set(files(new_dir)) == ({b"00/old"} if previous_exists else set())
    assert not ctx.inputs  # nothing was removed
    commands = [result.argv for result in ctx.commands]
    assert not [a for a in commands if a[:2] == ["test", "-d"]]


def test_sorted_listing_fails_when_find_fails(tmp_path):
    """The listing is a pipeline whose own status is sort's: find failing
    half-way (a partial list, which would delete files) still fails it."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "find").write_text(
        "#!/bin/sh\nprintf '%s\\0' '1 2 b' '1 2 a'\necho 'find: boom' >&2\nexit 1\n"
    )
    (stub / "find").chmod(0o755)
    env = {"PATH": f"{stub}:{os.environ['PATH']}"}
    with LocalTransport() as local:
        failed = local.run(["sh", "-c", LIST_SORTED_SH, "sh", str(tmp_path)], env=env)
        good = local.run(["sh", "-c", LIST_SORTED_SH, "sh", str(stub)])
        missing = local.run(["sh", "-c", LIST_SORTED_SH, "sh", "/nowhere"])
    assert failed.exit_code == 1
    assert "find: boom" in failed.stderr.text()
    assert failed.stdout.text() == "1 2 a\x001 2 b\x00"
    assert good.ok
    assert good.stdout.text().endswith(" find\x00")
    assert missing.exit_code == replicate_module.NO_DIRECTORY
    assert missing.stdout.text() == ""


@pytest.mark.parametrize(
    "script, reason",
    [
        ("printf '%s\\0' '1 2 b' '1 2 a'", "not a sorted list"),
        ("printf '%s\\0' '1 2 a' '1 2 a'", "not a sorted list"),
        ("printf '%s\\0' '1 2'", "not a sorted list"),
        ("printf '%s\\0' 'x 2 a'", "not a sorted list"),
        ("printf '%s\\0%s' '1 2 a' '1 2 b'", "not a sorted list"),
        ("printf '%s\\0' '1 2 a'; echo 'find: boom' >&2; exit 1", "find: boom"),
    ],
    ids=["unsorted", "duplicate", "malformed", "size", "cut short", "failed"],
)
def test_a_bad_list_fails_before_anything_is_removed(
    stores, transports, monkeypatch, script, reason
):
    """A list that is out of order, malformed, cut short or from a command
    that failed is refused, saying whose; the new directory is still the
    previous copy's hard links: nothing was removed or copied on its word."""
    stores.write(stores.source, "00/a", b"a")
    stores.write(stores.previous, "00/z", b"z")
    # The source's list only: the target's is empty.
    script = f'case "$1" in */{SRC_DB}) {script} ;; esac'
    monkeypatch.setattr(replicate_module, "LIST_SORTED_SH", script)

    with pytest.raises(OperationFailed) as caught:
        stores.copy(transports)

    message = str(caught.value)
    assert message.startswith(f"The files of {stores.source} cannot be listed: ")
    assert reason in message
    new_dir = os.path.join(
        stores.tgt_data, "filestore", f"{TGT_DB}_replica_20240501000001"
    )
    assert outcome(files(stores.previous), files(new_dir)) == (set(), {b"00/z"}, set())


def _sleep_token():
    """A sleep whose command line no other process has."""
    return f"sleep 60.{secrets.randbelow(10**6):06d}"


def _running(token):
    found = subprocess.run(["pgrep", "-f", token], capture_output=True, check=False)
    return found.stdout.split()


def test_cancel_while_a_host_is_still_sorting(stores, transports, monkeypatch):
    """No output comes until a host has read and sorted all its files: the
    heartbeat goes on meanwhile, a cancel it learns of is honoured, and the
    listings are stopped on their hosts."""
    token = _sleep_token()
    monkeypatch.setattr(replicate_module, "LIST_SORTED_SH", token)
    stores.both("00/a", b"a")
    ctx = Context(cancel_at_progress=True)
    started = time.monotonic()

    with pytest.raises(OperationFailed, match="^Cancelled on request.$"):
        stores.copy(transports, ctx)

    assert time.monotonic() - started < 15
    assert "Comparing the filestores: 0 files listed" in ctx.progress_messages
    assert _running(token) == []


def test_a_listing_past_its_time_limit_is_stopped(stores, transports, monkeypatch):
    token = _sleep_token()
    monkeypatch.setattr(replicate_module, "LIST_SORTED_SH", token)
    monkeypatch.setattr(replicate_module, "LONG_TIMEOUT", 1)
    stores.both("00/a", b"a")

    with pytest.raises(OperationFailed, match="cannot be listed: timed out after"):
        stores.copy(transports)
    assert _running(token) == []


def test_progress_says_how_many_files_were_listed(stores, transports, monkeypatch):
    """A long comparison reports progress (the journal's heartbeat, which
    also learns of a cancel) with the number of files listed so far."""
    monkeypatch.setattr(replicate_module, "HEARTBEAT_INTERVAL", 0)
    monkeypatch.setattr(replicate_module, "LIST_READ_CHUNK", 64)
    # A previous copy to compare with (a first copy lists nothing).
    os.makedirs(stores.previous)
    for index in range(20):
        stores.write(stores.source, f"00/f{index:02d}", b"x")
    ctx = Context()

    stores.copy(transports, ctx)

    listed = [m for m in ctx.progress_messages if m and m.startswith("Comparing")]
    assert listed and listed[-1] == "Comparing the filestores: 20 files listed"

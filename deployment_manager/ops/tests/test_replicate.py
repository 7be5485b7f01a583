"""Replication and neutralization on real Odoo databases and real SSH hosts.

The source is a copy of a template database with ``mail`` installed (built
once, about 20 s, kept as ``dm_repl_src_template`` for the next runs; drop
it to rebuild). Both "hosts" are this machine reached through two sshd on
different loopback addresses, so the cross-host path is taken.
"""

import dataclasses
import fcntl
import hashlib
import os
import secrets
import subprocess
import threading
import time

import psycopg2
import pytest

from ...remote import LocalTransport, SshTransport
from ...remote.tests.sshd_rig import SshdHost
from ..context import OperationFailed, SimpleContext
from ..neutralize import neutralize
from ..pg import CREATE_FAILED, pg_restore_argv, stream_load_argv, swap_database_in
from ..replicate import _rsync_stats, replicate
from ..results import ReplicationResult
from ..spec import EnvironmentSpec
from .pg import databases_like, drop_database, psql
from .typed_check import typed

ODOO = "/opt/odoo-venv/bin/odoo"
TEMPLATE = "dm_repl_src_template"
TEMPLATE_DATA = "/var/tmp/dm_repl_template_data"


def _build_template():
    os.makedirs(TEMPLATE_DATA, exist_ok=True)
    with open(TEMPLATE_DATA + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if databases_like(TEMPLATE):
            done = psql(
                TEMPLATE,
                "SELECT count(*) FROM ir_module_module "
                "WHERE name = 'mail' AND state = 'installed'",
            )
            if done == [["1"]]:
                return
            drop_database(TEMPLATE)
        subprocess.run(
            [
                ODOO,
                "-d",
                TEMPLATE,
                "-i",
                "mail",
                "--stop-after-init",
                "--without-demo=all",
                "--no-http",
                "--data-dir",
                TEMPLATE_DATA,
                "--log-level=warn",
            ],
            check=True,
            capture_output=True,
        )


@pytest.fixture(scope="module")
def template():
    _build_template()
    return TEMPLATE


@pytest.fixture(scope="module")
def hosts():
    with SshdHost("127.0.0.13") as one, SshdHost("127.0.0.14") as two:
        yield one, two


@pytest.fixture
def transports(hosts):
    one, two = hosts
    with SshTransport(one.ssh_config()) as a, SshTransport(two.ssh_config()) as b:
        yield a, b


def _copy_db(template, name):
    psql("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def _schema_objects(db):
    """Every index and constraint of the public schema, by name."""
    return psql(
        db,
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
        "UNION ALL SELECT conname FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public' "
        "ORDER BY 1",
    )


def _tree_digests(root):
    digests = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                digests[os.path.relpath(path, root)] = hashlib.sha256(
                    handle.read()
                ).hexdigest()
    return digests


class Pair:
    """A source and a target environment with real databases and filestores."""

    def __init__(self, template, root):
        token = secrets.token_hex(3)
        self.src_db = f"dm_repl_src_{token}"
        self.tgt_db = f"dm_repl_tgt_{token}"
        _copy_db(template, self.src_db)
        _copy_db(template, self.tgt_db)
        psql(
            self.src_db,
            "INSERT INTO res_partner (name, active, type, complete_name) "
            "SELECT 'Replicated ' || g, true, 'contact', 'Replicated ' || g "
            "FROM generate_series(1, 50) g;"
            "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, "
            "smtp_encryption, smtp_authentication, active, sequence) VALUES "
            "('Production SMTP', 'smtp.example.com', 587, 'starttls', 'login', "
            "true, 10);"
            "UPDATE ir_cron SET active = true;",
        )
        psql(self.tgt_db, "UPDATE res_partner SET name = 'Old target' WHERE id = 1")
        self.src_data = os.path.join(root, "src-data")
        self.tgt_data = os.path.join(root, "tgt-data")
        self.src_fs = os.path.join(self.src_data, "filestore", self.src_db)
        self.tgt_fs = os.path.join(self.tgt_data, "filestore", self.tgt_db)
        for index in range(100):
            _write(
                os.path.join(self.src_fs, "%02x" % (index % 16), f"f{index:03d}"),
                os.urandom(100 + index * 13),
            )
        self.source = EnvironmentSpec(
            name="production",
            db_name=self.src_db,
            data_dir=self.src_data,
            work_dir=os.path.join(root, "src-work"),
        )
        # The target's Odoo "service": its stops and starts, in order.
        self.service_log = os.path.join(root, "service.log")
        self.target = EnvironmentSpec(
            name="preproduction",
            odoo_argv=[ODOO],
            db_name=self.tgt_db,
            data_dir=self.tgt_data,
            work_dir=os.path.join(root, "tgt-work"),
            odoo_stop_argv=["sh", "-c", 'echo stop >> "$1"', "sh", self.service_log],
            odoo_start_argv=["sh", "-c", 'echo start >> "$1"', "sh", self.service_log],
        )

    def service(self):
        if not os.path.exists(self.service_log):
            return []
        with open(self.service_log) as handle:
            return handle.read().split()

    def cleanup(self):
        for prefix in (self.src_db, self.tgt_db):
            for name in databases_like(prefix):
                drop_database(name)


@pytest.fixture
def pair(template, tmp_path):
    made = Pair(template, str(tmp_path))
    yield made
    made.cleanup()


def _partners(db):
    return psql(db, "SELECT id, name FROM res_partner ORDER BY id")


def test_cross_host_replication_then_only_changes(pair, transports):
    source, target = transports
    ctx = SimpleContext()
    during = []
    stop = threading.Event()
    connection = psycopg2.connect(dbname=pair.src_db)
    connection.autocommit = True

    def query_production():
        # Production keeps serving while it is copied.
        while not stop.is_set():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM res_partner")
                during.append(cursor.fetchone()[0])
            time.sleep(0.02)

    reader = threading.Thread(target=query_production)
    reader.start()
    try:
        # As for the recovery site: an exact copy, left in standby.
        result = replicate(
            ctx,
            source,
            pair.source,
            target,
            pair.target,
            stamp="20240101000001",
            neutralize=False,
            start_after=False,
        )
        typed(ReplicationResult, result)
    finally:
        stop.set()
        reader.join()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM res_partner")
        assert cursor.fetchone()[0] == during[0]
    connection.close()
    assert len(during) > 3
    assert result["bytes_streamed"] > 100_000
    assert result["previous_database"] == f"{pair.tgt_db}_before_20240101000001"
    assert _partners(pair.tgt_db) == _partners(pair.src_db)
    # The data came with the stream, the indexes and constraints after it.
    assert _schema_objects(pair.tgt_db) == _schema_objects(pair.src_db)
    assert len(_schema_objects(pair.src_db)) > 100
    assert ["Old target"] in [r[1:] for r in _partners(result["previous_database"])]
    assert result["filestore"]["method"] == "tar"
    assert result["filestore"]["files_moved"] == 100
    assert _tree_digests(pair.tgt_fs) == _tree_digests(pair.src_fs)
    assert not databases_like(f"{pair.tgt_db}_replica_20240101000001")
    assert os.listdir(pair.target.work_dir) == []
    assert result["neutralization"] is None
    assert psql(pair.tgt_db, "SELECT count(*) FROM ir_mail_server WHERE active") == [
        ["1"]
    ]
    assert pair.service() == ["stop"]
    assert "Odoo was left stopped (standby)." in result["notes"]

    # Two files changed, one added, one deleted: only those move.
    before = _tree_digests(pair.tgt_fs)
    changed = sorted(before)[:2]
    for relative in changed:
        _write(os.path.join(pair.src_fs, relative), os.urandom(333))
        later = time.time() + 5
        os.utime(os.path.join(pair.src_fs, relative), (later, later))
    _write(os.path.join(pair.src_fs, "ff", "new-file"), b"added")
    os.unlink(os.path.join(pair.src_fs, max(before)))
    second = replicate(
        ctx,
        source,
        pair.source,
        target,
        pair.target,
        stamp="20240101000002",
        neutralize=False,
        start_after=False,
    )
    assert second["filestore"]["files_moved"] == 3
    assert second["filestore"]["files_deleted"] == 1
    assert second["filestore"]["bytes_moved"] == 333 * 2 + 5
    assert _tree_digests(pair.tgt_fs) == _tree_digests(pair.src_fs)
    # The previous copy shares its unchanged files' inodes with the new one:
    # none of them was written through.
    assert second["previous_filestore"].endswith("_before_20240101000002")
    assert _tree_digests(second["previous_filestore"]) == before


def test_same_host_replication_and_neutralization(pair):
    """The replica is neutralized (Odoo's rules, then the target's own) and
    verified under its own name before the swap: the target's Odoo is only
    started once it serves a neutralized database."""
    ctx = SimpleContext()
    rules = [
        (
            "UPDATE ir_config_parameter SET value = 'http://replica.test' "
            "WHERE key = 'web.base.url';"
        )
    ]
    with LocalTransport() as local:
        first = replicate(
            ctx,
            local,
            pair.source,
            local,
            pair.target,
            stamp="20240101000011",
            neutralize=True,
            neutralization_rules=rules,
        )
        assert first["filestore"]["method"] == "rsync"
        assert first["filestore"]["files_moved"] == 100
        _write(os.path.join(pair.src_fs, "aa", "one-more"), b"x" * 10)
        second = replicate(
            ctx,
            local,
            pair.source,
            local,
            pair.target,
            stamp="20240101000012",
            keep_previous=False,
            neutralize=True,
            neutralization_rules=rules,
        )
    assert second["previous_database"] is None
    assert second["previous_filestore"] is None
    assert not databases_like(f"{pair.tgt_db}_before_20240101000012")
    assert not os.path.exists(f"{pair.tgt_fs}_before_20240101000012")
    assert second["filestore"]["files_moved"] == 1
    assert second["filestore"]["files_total"] == 101
    assert _tree_digests(pair.tgt_fs) == _tree_digests(pair.src_fs)
    assert _partners(pair.tgt_db) == _partners(pair.src_db)
    # Neutralized before the swap, under the replica's own name.
    steps = ctx.steps
    assert steps.index("Neutralize the new database") < steps.index("Stop Odoo")
    report = second["neutralization"]
    assert (
        report["ok"] and report["database"] == f"{pair.tgt_db}_replica_20240101000012"
    )
    assert report["rules_applied"] == 1
    assert {c["name"] for c in report["checks"]} >= {
        "is_neutralized",
        "mail_servers",
        "crons",
        "fetchmail_servers",
    }
    assert pair.service() == ["stop", "start", "stop", "start"]
    assert psql(
        pair.tgt_db,
        "SELECT name, smtp_host FROM ir_mail_server WHERE active",
    ) == [["neutralization - disable emails", "invalid"]]
    assert psql(
        pair.tgt_db,
        "SELECT d.module || '.' || d.name FROM ir_cron c JOIN ir_model_data d "
        "ON d.model = 'ir.cron' AND d.res_id = c.id WHERE c.active",
    ) == [["base.autovacuum_job"]]
    assert psql(
        pair.tgt_db,
        "SELECT value FROM ir_config_parameter WHERE key IN "
        "('database.is_neutralized', 'web.base.url') ORDER BY key",
    ) == [["true"], ["http://replica.test"]]
    # Production itself was not touched.
    assert psql(pair.src_db, "SELECT count(*) FROM ir_mail_server WHERE active") == [
        ["1"]
    ]


def test_neutralization_verification_fails_loudly(pair):
    ctx = SimpleContext()
    with (
        LocalTransport() as local,
        pytest.raises(OperationFailed, match="not neutralized") as caught,
    ):
        neutralize(
            ctx,
            local,
            pair.target,
            extra_sql=["UPDATE ir_cron SET active = true"],
        )
    failed = [c["name"] for c in caught.value.report["checks"] if not c["ok"]]
    assert failed == ["crons"]


def _add_bulk(pair):
    """Enough data in the source for its stream to last a while."""
    psql(
        pair.src_db,
        "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5(random()::text) "
        "|| md5(random()::text) AS payload FROM generate_series(1, 600000) g",
    )


def _fail_mid_stream(pair, transports, stamp, fault, target_spec=None):
    """Replicate while ``fault()`` is done from another thread as soon as the
    stream has begun to reach the target (its partial file is not empty);
    ``fault`` returns True once done. Checks that the replication failed
    saying the target is untouched, and that it is; returns the error."""
    source, target = transports
    spec = target_spec or pair.target
    dump_file = os.path.join(spec.work_dir, f"replicate-{stamp}.dump")
    # The stream is written under this name until it is whole.
    partial = dump_file + ".tmp"
    done = []

    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(partial) and os.path.getsize(partial) > 0 and fault():
                done.append(True)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(OperationFailed, match="is untouched") as caught:
            replicate(
                SimpleContext(),
                source,
                pair.source,
                target,
                spec,
                stamp=stamp,
                neutralize=True,
            )
    finally:
        watcher.join()
    assert done, "the stream ended before the fault could happen"
    assert "Streaming the database" in str(caught.value)
    assert psql(pair.tgt_db, "SELECT name FROM res_partner WHERE id = 1") == [
        ["Old target"]
    ]
    assert databases_like(f"{pair.tgt_db}_replica_{stamp}") == []
    assert databases_like(f"{pair.tgt_db}_before_{stamp}") == []
    assert not os.path.exists(dump_file)
    assert not os.path.exists(partial)
    assert not os.path.exists(
        os.path.join(pair.tgt_data, "filestore", f"{pair.tgt_db}_replica_{stamp}")
    )
    return caught.value


def test_stream_killed_half_way_leaves_the_target_untouched(pair, transports):
    """Production's pg_dump backend is killed mid-copy."""
    _add_bulk(pair)

    def kill_pg_dump():
        return psql(
            "postgres",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{pair.src_db}' AND application_name = 'pg_dump'",
        )

    _fail_mid_stream(pair, transports, "20240101000021", kill_pg_dump)


def test_not_enough_room_on_the_target_is_refused_before_reading_production(
    pair, transports, tmp_path
):
    """The target's work directory on a 1 MiB file system: refused up front,
    saying what is needed and what is free; production was not dumped and the
    target is as it was."""
    source, target = transports
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    # Private, as a work directory must be (a tmpfs root is 1777 otherwise).
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", tiny], check=True
    )
    try:
        with pytest.raises(OperationFailed) as caught:
            replicate(
                SimpleContext(),
                source,
                pair.source,
                target,
                dataclasses.replace(pair.target, work_dir=str(tiny)),
                stamp="20240101000031",
                neutralize=True,
            )
        message = str(caught.value)
        assert "Not enough disk space" in message
        assert f"{tiny}: " in message and "1.0 MiB free" in message
        assert "is untouched" in message
        assert os.listdir(tiny) == []
    finally:
        subprocess.run(["umount", str(tiny)], check=True)
    assert psql(pair.tgt_db, "SELECT name FROM res_partner WHERE id = 1") == [
        ["Old target"]
    ]
    assert databases_like(f"{pair.tgt_db}_replica_20240101000031") == []


def test_disk_filling_up_during_the_stream_leaves_the_target_untouched(
    pair, transports, tmp_path
):
    """The work directory has room when the replication starts, then another
    process fills its file system while the dump streams in: the load into the
    new database may well succeed, but the file the indexes would be built
    from is not whole, so the replication fails, says why, and removes what it
    made."""
    _add_bulk(pair)
    size = int(psql(pair.src_db, "SELECT pg_database_size(current_database())")[0][0])
    work = tmp_path / "work"
    work.mkdir()
    # Room for the space check (database size, 10 % more, a 64 MiB margin).
    room = int(size * 1.1) + 80 * 1024 * 1024
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={room},mode=0700", "tmpfs", work],
        check=True,
    )

    def fill_the_disk():
        with open(work / "filler", "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * (1 << 20))
                    handle.flush()
            except OSError:
                return True

    try:
        error = _fail_mid_stream(
            pair,
            transports,
            "20240101000041",
            fill_the_disk,
            dataclasses.replace(pair.target, work_dir=str(work)),
        )
        assert "No space left on device" in str(error)
        assert os.listdir(work) == ["filler"]
    finally:
        subprocess.run(["umount", str(work)], check=True)


def test_rsync_counts_read_with_thousands_separators(tmp_path):
    """rsync writes "reg: 1,001": all of it is read, not the "1"."""
    source = tmp_path / "source"
    source.mkdir()
    for index in range(1001):
        (source / f"f{index}").write_bytes(b"x")
    output = subprocess.run(
        ["rsync", "-a", "--stats", f"{source}/", str(tmp_path / "target")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "reg: 1,001" in output
    assert _rsync_stats(output)["reg"] == 1001


def test_the_streams_destination_creates_the_new_database(local, tmp_path):
    """The stream's destination creates the new database, then loads the
    schema and the data as they arrive (one command fewer than a createdb of
    its own); a createdb that fails is told apart (CREATE_FAILED) before
    anything is read. The index builds then remove the dump they read."""
    source, target = "dm_create_src", "dm_create_dst"
    dump = str(tmp_path / "stream.dump")
    for name in (source, target):
        drop_database(name)
    try:
        refused = local.run(
            stream_load_argv(
                [],
                target,
                dump,
                create_argv=["sh", "-c", "echo no room for it >&2; exit 1"],
            ),
            stdin_data=b"not read",
        )
        assert refused.exit_code == CREATE_FAILED
        assert "no room for it" in refused.stderr.text()
        assert not os.path.exists(dump) and not databases_like(target)

        subprocess.run(["createdb", "--", source], check=True)
        psql(source, "CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 500) g")
        psql(source, "CREATE INDEX t_n ON t (n)")
        data = subprocess.run(
            ["pg_dump", "-Fc", "--", source], check=True, capture_output=True
        ).stdout
        loaded = local.run(
            stream_load_argv(
                [],
                target,
                dump,
                ("--no-owner",),
                create_argv=["createdb", "-T", "template0", "--", target],
            ),
            stdin_data=data,
        )
        assert loaded.ok, loaded.stderr.text()
        assert psql(target, "SELECT count(*) FROM t") == [["500"]]
        assert psql(
            target, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'"
        ) == [["0"]]
        built = local.run(
            pg_restore_argv([], target, dump, ("--section=post-data",), remove=True)
        )
        assert built.ok, built.stderr.text()
        assert psql(
            target, "SELECT indexname FROM pg_indexes WHERE tablename = 't'"
        ) == [["t_n"]]
        assert not os.path.exists(dump)
    finally:
        for name in (source, target):
            drop_database(name)


def test_the_swap_is_one_command_and_an_earlier_one_is_found(local):
    """swap_database_in swaps and reads the names back in one command; run
    again (an answer lost, a worker taking the operation up), it finds the
    swap made and does not make it twice."""
    db, incoming, aside = "dm_swap_db", "dm_swap_db_new", "dm_swap_db_old"
    spec = EnvironmentSpec(name="swap", db_name=db)
    calls = []

    def admin(sql, **variables):
        calls.append(sql)
        return local.run(
            spec.admin_psql_argv(variables.items()), stdin_data=sql.encode()
        )

    for name in (db, incoming, aside):
        drop_database(name)
    try:
        subprocess.run(["createdb", "--", db], check=True)
        subprocess.run(["createdb", "--", incoming], check=True)
        psql(incoming, "CREATE TABLE marker AS SELECT 1 AS incoming")
        names = {"db": db, "incoming": incoming, "aside": aside}
        swap_database_in(SimpleContext(), admin, replaces=True, **names)
        assert len(calls) == 1
        assert sorted(databases_like(db)) == [db, aside]
        assert psql(db, "SELECT incoming FROM marker") == [["1"]]

        swap_database_in(SimpleContext(), admin, replaces=True, **names)
        assert len(calls) == 2
        assert sorted(databases_like(db)) == [db, aside]
        assert psql(db, "SELECT incoming FROM marker") == [["1"]]
    finally:
        for name in (db, incoming, aside):
            drop_database(name)

"""Backup bundles and restores against a real PostgreSQL, real files, real sshd."""

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from ..backup import backup_bundle, remove_bundle, verify_bundle
from ..context import OperationFailed, SimpleContext
from ..pg import MAX_RESTORE_JOBS, pg_restore_argv
from ..restore import restore_bundle
from ..results import BundleVerification, RestoreResult
from .conftest import DB_PASSWORD, INSTALLED_MODULES, databases_like, psql
from .pg import drop_database
from .typed_check import typed

EXPECTED_FILES = {
    "database.dump": "database",
    "filestore.tar": "filestore",
    "config/odoo.conf": "config",
    "addons/1-custom_addons.tar": "addons",
    "extra/1-documents.tar": "extra",
}


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def tree_hashes(root):
    """{relative path: sha256} of every file under root."""
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = sha256(path)
    return found


def context(tmp_path):
    return SimpleContext(work_dir=f"{tmp_path}/runs")


def take_backup(ctx, transport, production, name="bundle"):
    bundle = f"{production.spec.backup_dir}/{name}"
    manifest = backup_bundle(
        ctx,
        transport,
        production.spec,
        bundle,
        extra_paths=[production.extra],
        meta={"who": "admin", "operation": "test"},
    )
    return bundle, manifest


def assert_complete_bundle(production, bundle, manifest, ctx):
    """Everything a bundle promises, checked independently of the code under test."""
    assert manifest["verification"] == {"ok": True, "problems": [], "checked": 5}
    assert os.stat(bundle).st_mode & 0o777 == 0o700
    assert not os.path.exists(f"{bundle}/.incomplete")
    with open(f"{bundle}/manifest.json") as handle:
        on_disk = json.load(handle)
    assert on_disk == {k: v for k, v in manifest.items() if k != "verification"}
    parts = {part["file"]: part for part in manifest["parts"]}
    assert {file: part["kind"] for file, part in parts.items()} == EXPECTED_FILES
    for file, part in parts.items():
        assert part["sha256"] == sha256(f"{bundle}/{file}"), file
        assert part["size"] == os.path.getsize(f"{bundle}/{file}"), file
    assert manifest["database"] == production.db
    assert manifest["environment"] == "production"
    assert manifest["odoo_version"] == "18.0-test"
    assert manifest["postgres_version"].startswith("15")
    assert manifest["modules"] == [
        {"name": name, "version": version} for name, version in INSTALLED_MODULES
    ]
    assert manifest["who"] == "admin" and manifest["operation"] == "test"
    addons = parts["addons/1-custom_addons.tar"]
    assert addons["source"] == production.addons
    assert (addons["git_commit"], addons["git_dirty"]) == (production.commit, True)
    assert parts["extra/1-documents.tar"]["git_commit"] is None
    with (
        open(f"{bundle}/config/odoo.conf", "rb") as copy,
        open(production.config, "rb") as original,
    ):
        assert copy.read() == original.read()
    # The filestore archive holds the very files, under the database's name.
    with tarfile.open(f"{bundle}/filestore.tar") as archive:
        archived = {
            os.path.relpath(member.name, production.db): hashlib.sha256(
                archive.extractfile(member).read()
            ).hexdigest()
            for member in archive.getmembers()
            if member.isfile()
        }
    assert archived == tree_hashes(production.filestore)
    assert len(archived) == 50
    commands = " ".join(str(getattr(c, "display", "")) for c in ctx.commands)
    assert DB_PASSWORD not in commands
    assert DB_PASSWORD not in json.dumps(manifest)


@pytest.fixture(scope="module")
def local_bundle(production, tmp_path_factory):
    """One bundle of the module's production, taken over the local transport."""
    from ...remote import LocalTransport

    ctx = context(tmp_path_factory.mktemp("ctx"))
    with LocalTransport() as transport:
        bundle, manifest = take_backup(ctx, transport, production)
    return bundle, manifest, ctx


def test_bundle_over_local_transport(production, local_bundle):
    """A bundle taken locally holds every part, with checksums, git state and
    versions that match the files, and it verifies."""
    bundle, manifest, ctx = local_bundle
    assert_complete_bundle(production, bundle, manifest, ctx)


def test_bundle_over_ssh(production, ssh, tmp_path):
    """The same bundle taken over SSH is just as complete and verifies."""
    ctx = context(tmp_path)
    bundle, manifest = take_backup(ctx, ssh, production, name="over-ssh")
    assert_complete_bundle(production, bundle, manifest, ctx)


def test_restore_brings_back_the_backup(fresh_production, local, tmp_path):
    """A restore swaps in the backed-up rows and files; what was written after
    the backup survives only in the kept previous database and filestore."""
    production = fresh_production
    log = f"{tmp_path}/service.log"
    spec = dataclasses.replace(
        production.spec,
        odoo_stop_argv=["sh", "-c", 'echo stop >> "$1"', "sh", log],
        odoo_start_argv=["sh", "-c", 'echo start >> "$1"', "sh", log],
    )
    production.spec = spec
    ctx = context(tmp_path)
    bundle, manifest = take_backup(ctx, local, production)
    assert manifest["verification"]["ok"]
    rows_at_backup = production.rows()
    files_at_backup = tree_hashes(production.filestore)
    psql(production.db, "INSERT INTO partner (name) VALUES ('late 1'), ('late 2')")
    with open(f"{production.filestore}/00/written-after-backup", "wb") as handle:
        handle.write(b"new attachment")

    result = restore_bundle(ctx, local, spec, bundle)

    typed(RestoreResult, result)
    previous = result["previous_database"]
    assert result["database"] == production.db
    assert previous.startswith(f"{production.db}_before_")
    assert result["sources_restored"] is True
    assert result["odoo_stopped"] and result["odoo_started"]
    with open(log) as handle:
        assert handle.read().split() == ["stop", "start"]
    assert production.rows() == rows_at_backup
    assert production.rows(previous) == rows_at_backup + [
        ["1001", "late 1"],
        ["1002", "late 2"],
    ]
    assert tree_hashes(production.filestore) == files_at_backup
    assert "00/written-after-backup" in tree_hashes(result["previous_filestore"])
    assert not [d for d in databases_like(production.db) if "_restore_" in d]


def test_restore_brings_back_the_sources(fresh_production, local, tmp_path):
    """A restore puts the backed-up custom addons back in place; the sources
    changed after the backup are kept as <path>.before-<stamp>."""
    production = fresh_production
    ctx = context(tmp_path)
    bundle, manifest = take_backup(ctx, local, production)
    assert manifest["verification"]["ok"]
    manifest_py = "custom_sales/__manifest__.py"
    with open(f"{production.addons}/{manifest_py}", "rb") as handle:
        at_backup = handle.read()
    sources_at_backup = tree_hashes(production.addons)
    with open(f"{production.addons}/{manifest_py}", "ab") as handle:
        handle.write(b"# changed after the backup\n")
    with open(f"{production.addons}/custom_sales/new_after_backup.py", "w") as handle:
        handle.write("NEW = True\n")

    result = restore_bundle(ctx, local, production.spec, bundle, stamp="20240102030405")

    kept = f"{production.addons}.before-20240102030405"
    assert result["sources_restored"] is True
    assert result["previous_sources"] == {production.addons: kept}
    with open(f"{production.addons}/{manifest_py}", "rb") as handle:
        assert handle.read() == at_backup
    assert tree_hashes(production.addons) == sources_at_backup
    assert not os.path.exists(f"{production.addons}/custom_sales/new_after_backup.py")
    with open(f"{kept}/{manifest_py}", "rb") as handle:
        assert handle.read() == at_backup + b"# changed after the backup\n"
    assert os.path.exists(f"{kept}/custom_sales/new_after_backup.py")
    parent = os.path.dirname(production.addons)
    assert not [name for name in os.listdir(parent) if name.startswith(".restore-")]


def test_sources_that_cannot_all_be_restored_are_all_put_back(
    fresh_production, local, tmp_path
):
    """Two addons paths, the second of which cannot be swapped (a previous
    restore's copy is in the way): the first, already swapped, is put back;
    the database is restored all the same and the notes say why the sources
    were not."""
    production = fresh_production
    second = os.path.join(os.path.dirname(production.addons), "more_addons")
    os.makedirs(os.path.join(second, "extra_module"))
    with open(os.path.join(second, "extra_module", "__manifest__.py"), "w") as handle:
        handle.write("{'name': 'Extra', 'version': '18.0.1.0.0'}\n")
    production.spec = dataclasses.replace(
        production.spec, addons_paths=[production.addons, second]
    )
    ctx = context(tmp_path)
    bundle, manifest = take_backup(ctx, local, production)
    assert manifest["verification"]["ok"]
    rows_at_backup = production.rows()
    with open(f"{production.addons}/custom_sales/new_after_backup.py", "w") as handle:
        handle.write("NEW = True\n")
    first_now, second_now = tree_hashes(production.addons), tree_hashes(second)
    stamp = "20240102030405"
    in_the_way = f"{second}.before-{stamp}"
    os.makedirs(in_the_way)

    result = restore_bundle(ctx, local, production.spec, bundle, stamp=stamp)

    assert result["sources_restored"] is False
    assert f"{in_the_way} already exists" in result["sources_error"]
    assert any("The sources were not restored" in note for note in result["notes"])
    assert production.rows() == rows_at_backup
    # Both paths hold what they held before the restore.
    assert tree_hashes(production.addons) == first_now
    assert tree_hashes(second) == second_now
    assert not os.path.exists(f"{production.addons}.before-{stamp}")
    assert os.listdir(in_the_way) == []
    parent = os.path.dirname(production.addons)
    assert not [name for name in os.listdir(parent) if name.startswith(".restore-")]


def damage_file(path, how):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        if how == "truncate":
            handle.truncate(size * 9 // 10)
        else:
            handle.seek(size // 2)
            byte = handle.read(1)
            handle.seek(size // 2)
            handle.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize(
    "how, part, reseal, problem",
    [
        ("flip", "database.dump", False, "is damaged"),
        ("truncate", "filestore.tar", False, "is damaged"),
        # The manifest rewritten to match: only reading the data finds it.
        ("truncate", "database.dump", True, "pg_restore cannot read it back"),
    ],
)
def test_damaged_bundle_is_refused(
    production, local_bundle, local, tmp_path, how, part, reseal, problem
):
    """A bundle with a flipped byte or a truncated part fails verification
    naming that part, and a restore refuses it without touching the database."""
    bundle, _manifest, _ctx = local_bundle
    copy = f"{production.spec.backup_dir}/damaged-{how}-{part}-{reseal}"
    shutil.copytree(bundle, copy)
    damage_file(f"{copy}/{part}", how)
    if reseal:
        with open(f"{copy}/manifest.json") as handle:
            manifest = json.load(handle)
        for entry in manifest["parts"]:
            if entry["file"] == part:
                entry["sha256"] = sha256(f"{copy}/{part}")
        with open(f"{copy}/manifest.json", "w") as handle:
            json.dump(manifest, handle)
        # Its table of contents is intact: `pg_restore --list` alone says ok.
        subprocess.run(
            ["pg_restore", "--list", f"{copy}/{part}"], check=True, capture_output=True
        )
    ctx = context(tmp_path)
    rows = production.rows()

    report = verify_bundle(ctx, local, copy)

    typed(BundleVerification, report)
    assert not report["ok"]
    assert [p for p in report["problems"] if part in p and problem in p]
    with pytest.raises(OperationFailed, match="failed its verification") as failure:
        restore_bundle(ctx, local, production.spec, copy)
    assert part in str(failure.value)
    assert production.rows() == rows
    assert databases_like(production.db) == [production.db]


def test_not_enough_space_is_refused_before_writing(production, local, tmp_path):
    """With a 1 MiB backup file system the backup is refused up front, with
    the space needed and the space free, and nothing is written."""
    tiny = f"{tmp_path}/tiny"
    os.makedirs(tiny)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tiny], check=True)
    try:
        spec = dataclasses.replace(production.spec, backup_dir=tiny)
        ctx = context(tmp_path)
        with pytest.raises(OperationFailed) as failure:
            backup_bundle(ctx, local, spec, f"{tiny}/bundle")
        message = str(failure.value)
        assert "only 1.0 MiB free in " + tiny in message
        needed = float(message.split("needs about ")[1].split(" MiB")[0])
        size = int(
            psql(production.db, "SELECT pg_database_size(current_database())")[0][0]
        )
        assert needed * 1024**2 >= size * 1.1
        assert os.listdir(tiny) == []
        assert not any(
            "pg_dump" in str(getattr(c, "display", "")) for c in ctx.commands
        )
    finally:
        subprocess.run(["umount", tiny], check=True)


def test_failed_restore_leaves_the_database_as_it_was(
    fresh_production, local, tmp_path
):
    """When pg_restore fails (the dump names an owner this cluster no longer
    has), the new database is dropped and the environment's database, filestore
    and service are untouched."""
    production = fresh_production
    role = f"{production.db}_owner"
    psql(
        production.db,
        f"CREATE ROLE {role}; CREATE TABLE owned (x int);"
        f"INSERT INTO owned VALUES (1), (2); ALTER TABLE owned OWNER TO {role};",
    )
    log = f"{tmp_path}/service.log"
    spec = dataclasses.replace(
        production.spec, odoo_stop_argv=["sh", "-c", 'echo stop >> "$1"', "sh", log]
    )
    ctx = context(tmp_path)
    try:
        bundle, manifest = take_backup(ctx, local, production)
        assert manifest["verification"]["ok"]
        psql(
            production.db,
            f"REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role};"
            f"DROP ROLE {role};",
        )
        rows = production.rows()
        files = tree_hashes(production.filestore)

        with pytest.raises(OperationFailed) as failure:
            restore_bundle(ctx, local, spec, bundle)

        message = str(failure.value)
        assert "was not touched" in message and role in message
        assert production.rows() == rows
        assert psql(production.db, "SELECT x FROM owned ORDER BY x") == [["1"], ["2"]]
        assert tree_hashes(production.filestore) == files
        assert databases_like(production.db) == [production.db]
        assert sorted(os.listdir(os.path.dirname(production.filestore))) == [
            production.db
        ]
        assert not os.path.exists(log)
    finally:
        psql("postgres", f"DROP ROLE IF EXISTS {role}")


def test_remove_bundle_only_removes_bundles(production, local_bundle, local, tmp_path):
    """remove_bundle deletes a bundle under the backup directory and refuses
    anything that is not one."""
    bundle, _manifest, _ctx = local_bundle
    ctx = context(tmp_path)
    copy = f"{production.spec.backup_dir}/to-remove"
    shutil.copytree(bundle, copy)
    stranger = f"{production.spec.backup_dir}/not-a-bundle"
    os.makedirs(stranger)
    with pytest.raises(OperationFailed, match="not a backup bundle"):
        remove_bundle(ctx, local, production.spec, stranger)
    with pytest.raises(OperationFailed, match="inside the backup directory"):
        remove_bundle(ctx, local, production.spec, production.addons)
    remove_bundle(ctx, local, production.spec, copy)
    assert not os.path.exists(copy) and os.path.isdir(stranger)


def test_interrupted_bundle_is_taken_up_again(production, local, tmp_path):
    """A bundle directory an interrupted attempt left marked incomplete is
    completed by the next attempt, while a finished bundle is never overwritten."""
    ctx = context(tmp_path)
    bundle = f"{production.spec.backup_dir}/interrupted"
    os.makedirs(bundle, mode=0o700)
    with open(f"{bundle}/.incomplete", "w"), open(f"{bundle}/database.dump", "w"):
        pass  # what a worker killed mid-dump leaves behind

    manifest = backup_bundle(ctx, local, production.spec, bundle)

    assert manifest["verification"]["ok"]
    assert not os.path.exists(f"{bundle}/.incomplete")
    with pytest.raises(OperationFailed, match="already exists"):
        backup_bundle(ctx, local, production.spec, bundle)
    assert verify_bundle(ctx, local, bundle)["ok"]


def test_restores_run_one_job_per_cpu(local, tmp_path):
    """pg_restore_argv loads a dump with as many jobs as the host has CPUs
    (at most MAX_RESTORE_JOBS): with two or more, pg_restore runs in parallel
    mode, whose verbose output launches items instead of processing them."""
    source, target = "dm_parallel_src", "dm_parallel_dst"
    dump = str(tmp_path / "parallel.dump")
    for name in (source, target):
        drop_database(name)
    try:
        subprocess.run(["createdb", "--", source], check=True)
        psql(source, "CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 1000) g")
        psql(source, "CREATE INDEX t_n ON t (n)")
        subprocess.run(["pg_dump", "-Fc", "-f", dump, "--", source], check=True)
        subprocess.run(["createdb", "--", target], check=True)
        result = local.run(pg_restore_argv([], target, dump, ["--verbose"]))
        assert result.ok, result.stderr.text()
        assert psql(target, "SELECT count(*) FROM t") == [["1000"]]
        log = result.stderr.text()
        if min(os.cpu_count(), MAX_RESTORE_JOBS) >= 2:
            assert "launching item" in log
        else:
            assert "launching item" not in log
    finally:
        for name in (source, target):
            drop_database(name)

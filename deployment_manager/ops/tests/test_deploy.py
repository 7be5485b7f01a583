"""Deployment day for real: addons deployed from a zip and from git into a
simulated production (its own PostgreSQL cluster, a running Odoo 18 server,
service commands), installed and upgraded with Odoo, services restarted,
health checked, and a broken addon rolled back without losing data.

See ``production.py`` for the production; its PostgreSQL cluster (15/dmprod,
port 5439) is left running for the next run.
"""

import ast
import dataclasses
import glob
import json
import os
import threading
import time

import pytest

from ...remote import LocalTransport, SshTransport
from ...remote.detached import DetachedStatus
from ...remote.tests.sshd_rig import SshdHost
from .. import deploy, odoo_control
from ..context import Cancelled, OperationFailed, SimpleContext
from ..deploy_base import GATE_CLOSED, GATE_OPEN
from ..logcheck import check_log
from ..spec import EnvironmentSpec
from .production import (
    PYTHON,
    copy_module,
    databases_like,
    ensure_cluster,
    ensure_template,
    http_status,
    make_git_repo,
    make_production,
    make_zip,
    remove_production,
    sample,
)


def manifest_version(module_dir):
    with open(os.path.join(module_dir, "__manifest__.py")) as handle:
        return ast.literal_eval(handle.read())["version"]


@pytest.fixture(scope="module")
def production_cluster():
    ensure_cluster()
    ensure_template()


@pytest.fixture(scope="module")
def prod_host():
    with SshdHost("127.0.0.10") as rig:
        yield rig


@pytest.fixture
def ssh(prod_host):
    with SshTransport(prod_host.ssh_config()) as transport:
        yield transport


@pytest.fixture
def local_transport():
    with LocalTransport() as transport:
        yield transport


@pytest.fixture
def prod(production_cluster, tmp_path):
    """A production of the test's own, its server running and healthy."""
    made = make_production(tmp_path / "production")
    yield made
    remove_production(made)


class JournalContext(SimpleContext):
    """SimpleContext keeping the order of every command, the detached ones
    (services) as ``["detached:<key>", *argv]``."""

    def __init__(self, work_dir):
        super().__init__(work_dir)
        self.order = []

    def run(self, transport, argv, keep_output=True, **kwargs):
        self.order.append(list(argv))
        return super().run(transport, argv, keep_output, **kwargs)

    def run_detached(self, transport, argv, key, **kwargs):
        self.order.append([f"detached:{key}", *argv])
        return super().run_detached(transport, argv, key, **kwargs)

    def launch_detached(self, transport, argv, key, **kwargs):
        self.order.append([f"launch:{key}", *argv])
        return super().launch_detached(transport, argv, key, **kwargs)

    def said(self, line):
        """The detached commands whose output holds ``line``."""
        return [
            status
            for status in self.commands
            if isinstance(status, DetachedStatus)
            and line in status.stdout_excerpt.splitlines()
        ]

    def index(self, predicate):
        return next(i for i, argv in enumerate(self.order) if predicate(argv))


def tree(path):
    """Every file and directory under path (hidden ones too), with each
    file's content: what a recycled Odoo worker could load from it."""
    found = {}
    for directory, dirs, files in os.walk(path):
        for name in dirs:
            found[os.path.relpath(os.path.join(directory, name), path)] = None
        for name in files:
            full = os.path.join(directory, name)
            with open(full, "rb") as handle:
                found[os.path.relpath(full, path)] = handle.read()
    return found


@pytest.fixture
def ctx(tmp_path):
    return JournalContext(str(tmp_path / "runs"))


def test_zip_deploy_installs_module(prod, ssh, ctx, tmp_path):
    """A zip of dm_sample_good deployed and installed over SSH is installed at
    version 18.0.1.0.0, read back from the database, and the server is
    healthy afterwards."""
    archive = make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])

    deployed = deploy.deploy_zip(ctx, ssh, prod.spec, archive, prod.addons)

    assert deployed["kind"] == "zip"
    assert deployed["modules"] == ["dm_sample_good"]
    assert deployed["previous"] == {"dm_sample_good": None}
    assert deployed["checks"][0]["version"] == "18.0.1.0.0"
    module_dir = os.path.join(prod.addons, "dm_sample_good")
    assert manifest_version(module_dir) == "18.0.1.0.0"
    assert not glob.glob(os.path.join(prod.addons, ".incoming-*"))

    deploy.stop_odoo(ctx, ssh, prod.spec)
    assert not prod.is_active()
    result = deploy.install_upgrade(ctx, ssh, prod.spec, install=["dm_sample_good"])
    deploy.start_odoo(ctx, ssh, prod.spec)
    health = deploy.wait_healthy(ctx, ssh, prod.spec, timeout=60)

    assert result["ok"] and result["errors"] == []
    assert result["versions"] == {"dm_sample_good": "18.0.1.0.0"}
    assert prod.module_state("dm_sample_good") == ("installed", "18.0.1.0.0")
    assert prod.rows("SELECT name, value FROM dm_sample_record") == [
        ["First sample record", "42"]
    ]
    assert health["status"] == "HTTP 200"
    assert http_status(prod.health_url) == 200


def test_git_deploy_then_upgrade_runs_migration(prod, local_transport, ctx, tmp_path):
    """Deployed from git at tag v1 (cloned into the empty addons directory)
    then upgraded to tag v1.1 on the local host, the module is at 18.0.1.1.0
    and its post-migration ran on the existing records; undeploying goes back
    to the v1 commit."""
    repo = make_git_repo(
        tmp_path / "repo",
        [
            ("v1", [sample("v1", "dm_sample_good")]),
            ("v1.1", [sample("v1.1", "dm_sample_good")]),
        ],
    )
    transport, spec = local_transport, prod.spec

    first = deploy.deploy_git(ctx, transport, spec, repo, "v1", prod.addons)
    assert first["created"] and first["previous_commit"] is None
    assert first["modules"] == ["dm_sample_good"]
    deploy.stop_odoo(ctx, transport, spec)
    installed = deploy.install_upgrade(ctx, transport, spec, install=["dm_sample_good"])
    assert installed["versions"] == {"dm_sample_good": "18.0.1.0.0"}

    second = deploy.deploy_git(ctx, transport, spec, repo, "v1.1", prod.addons)
    assert second["previous_commit"] == first["commit"]
    assert second["modules"] == ["dm_sample_good"]
    assert second["checks"][0]["installed_version"] == "18.0.1.0.0"
    upgraded = deploy.install_upgrade(
        ctx,
        transport,
        spec,
        upgrade=["dm_sample_good"],
        expected_versions={"dm_sample_good": "18.0.1.1.0"},
    )
    deploy.start_odoo(ctx, transport, spec)
    deploy.wait_healthy(ctx, transport, spec, timeout=60)

    assert upgraded["versions"] == {"dm_sample_good": "18.0.1.1.0"}
    assert prod.module_state("dm_sample_good") == ("installed", "18.0.1.1.0")
    assert prod.rows("SELECT name, migrated FROM dm_sample_record") == [
        ["First sample record", "t"]
    ]
    assert prod.rows(
        "SELECT value FROM ir_config_parameter WHERE key = 'dm_sample_good.migrated_to'"
    ) == [["18.0.1.1.0"]]
    assert http_status(prod.health_url) == 200

    deploy.undeploy(ctx, transport, spec, second)
    module_dir = os.path.join(prod.addons, "dm_sample_good")
    assert manifest_version(module_dir) == "18.0.1.0.0"


def test_broken_addon_rolls_back_without_losing_data(prod, ssh, ctx, tmp_path):
    """A deployment run whose install fails rolls back by itself: a partner
    written before the stop and a filestore file are still there, neither
    module is installed, the previous sources are back, the server is
    healthy, and the error says what failed and that it rolled back."""
    # The previous sources: v1 of the good module, present but not installed.
    deploy_dir = os.path.join(prod.addons, "dm_sample_good")
    copy_module(sample("v1", "dm_sample_good"), prod.addons)
    prod.rows(
        "INSERT INTO res_partner (name, complete_name, active, type) "
        "VALUES ('Written before the stop', 'Written before the stop', true, "
        "'contact') RETURNING id"
    )
    marker = os.path.join(prod.filestore, "dm", "marker")
    os.makedirs(os.path.dirname(marker))
    with open(marker, "w") as handle:
        handle.write("kept")
    archive = make_zip(
        tmp_path / "release.zip",
        [sample("v1.1", "dm_sample_good"), sample("broken", "dm_sample_broken")],
    )
    states = []

    with pytest.raises(deploy.DeploymentFailed) as failure:
        deploy.deployment_run(
            ctx,
            ssh,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
            install=["dm_sample_good", "dm_sample_broken"],
            on_state=states.append,
        )

    error = failure.value
    message = str(error)
    assert error.rolled_back
    assert "Install and upgrade the modules" in message
    assert "view_that_does_not_exist" in message
    assert "Rolled back" in message
    assert error.result["install_result"]["exit_code"] != 0
    assert [s["phase"] for s in states][-2:] == ["rolling_back", "rolled_back"]
    assert prod.rows(
        "SELECT count(*) FROM res_partner WHERE name = 'Written before the stop'"
    ) == [["1"]]
    with open(marker) as handle:
        assert handle.read() == "kept"
    assert prod.module_state("dm_sample_broken")[0] in (None, "uninstalled")
    assert prod.module_state("dm_sample_good")[0] in (None, "uninstalled")
    assert manifest_version(deploy_dir) == "18.0.1.0.0"
    assert not os.path.exists(os.path.join(prod.addons, "dm_sample_broken"))
    assert not glob.glob(os.path.join(prod.addons, ".incoming-*"))
    assert prod.is_active()
    assert http_status(prod.health_url) == 200
    stamp = error.result["stamp"]
    assert error.result["rollback"]["failed_database"] == f"{prod.db}_failed_{stamp}"
    assert sorted(databases_like(prod.db)) == [prod.db, f"{prod.db}_failed_{stamp}"]
    assert os.path.isdir(f"{prod.filestore}_failed_{stamp}")


def test_check_addons_refuses_before_touching_anything(
    prod, local_transport, ctx, tmp_path
):
    """A manifest with a missing dependency and a Python dependency the
    environment cannot import is refused by check_addons and by deploy_zip,
    each problem named, and nothing is changed in the addons path."""
    incoming = tmp_path / "incoming"
    module = incoming / "dm_sample_needy"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "__manifest__.py").write_text(
        repr(
            {
                "name": "Needy",
                "version": "18.0.1.0.0",
                "depends": ["base", "dm_module_that_does_not_exist"],
                "external_dependencies": {
                    "python": ["dm_package_that_does_not_exist", "python-dateutil"]
                },
                "license": "LGPL-3",
            }
        )
    )
    before = sorted(os.listdir(prod.addons))

    with pytest.raises(deploy.AddonsRefused) as refused:
        deploy.check_addons(
            ctx, local_transport, prod.spec, str(incoming), target_path=prod.addons
        )
    check = refused.value.checks[0]
    assert check["missing_depends"] == ["dm_module_that_does_not_exist"]
    assert list(check["python_missing"]) == ["dm_package_that_does_not_exist"]
    assert len(refused.value.problems) == 2
    assert "dm_module_that_does_not_exist" in str(refused.value)
    assert "dm_package_that_does_not_exist" in str(refused.value)

    archive = make_zip(tmp_path / "needy.zip", [str(module)])
    ctx.commands.clear()
    with pytest.raises(deploy.AddonsRefused):
        deploy.deploy_zip(ctx, local_transport, prod.spec, archive, prod.addons)
    assert sorted(os.listdir(prod.addons)) == before
    assert not any(result.argv[0] == "mv" for result in ctx.commands)
    assert prod.is_active()


def test_successful_run_measures_downtime(prod, ssh, ctx, tmp_path):
    """A successful deployment run (install, PostgreSQL restarted, health,
    log check) reports the downtime from the stop to healthy and keeps its
    rollback point; the new module was moved into the addons path only
    after Odoo was stopped."""
    archive = make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])

    def log_check(ctx, transport, spec):
        return check_log(ctx, transport, spec.log_file)

    result = deploy.deployment_run(
        ctx,
        ssh,
        prod.spec,
        source={"kind": "zip", "path": archive, "addons_path": prod.addons},
        log_check=log_check,
    )

    assert result["phase"] == "done"
    assert result["install"] == ["dm_sample_good"] and result["upgrade"] == []
    assert result["install_result"]["versions"] == {"dm_sample_good": "18.0.1.0.0"}
    assert 0 < result["downtime"] < 120
    assert result["done"] == list(deploy.BEFORE_STOP + deploy.AFTER_STOP)
    stopped = ctx.index(lambda argv: argv[0] == "detached:odoo-stop")
    module = os.path.join(prod.addons, "dm_sample_good")
    moved_in = ctx.index(lambda argv: argv[:2] == ["mv", "-T"] and argv[-1] == module)
    extracted = ctx.index(lambda argv: argv[1:4] == ["-m", "zipfile", "-e"])
    assert extracted < stopped < moved_in
    # The install was started before the stop, and let through by the
    # rollback point's own command once the point was made.
    assert ctx.index(lambda argv: argv[0] == "launch:install-ahead") < stopped
    assert "/install-ahead-" in result["install_result"]["log_file"]
    assert len(ctx.said(GATE_OPEN)) == 1 and not ctx.said(GATE_CLOSED)
    assert gate_files(prod) == []
    assert result["log_check"]["verdict"] != "fail"
    point = result["rollback_point"]
    assert prod.rows(
        f"SELECT count(*) FROM pg_database WHERE datname = '{point['database']}'",
        db="postgres",
    ) == [["1"]]
    assert prod.module_state("dm_sample_good") == ("installed", "18.0.1.0.0")
    assert http_status(prod.health_url) == 200


def test_a_rollback_point_taken_again_keeps_its_copy(
    production_cluster, local_transport, tmp_path
):
    """Its step taken up again (the manager died after the copy), the
    rollback point keeps the copy it made and says so; a database that is
    not there is refused, nothing copied."""
    prod = make_production(tmp_path / "production", start=False)
    try:
        ctx = SimpleContext(str(tmp_path / "runs"))
        stamp = "20261130120000"
        first = deploy.rollback_point(ctx, local_transport, prod.spec, stamp=stamp)
        again = deploy.rollback_point(
            ctx, local_transport, prod.spec, stamp=stamp, key="rollback-point-2"
        )
        point = f"{prod.db}_rb_{stamp}"
        assert first["database"] == again["database"] == point
        assert first["notes"] == []
        assert again["notes"] == [f"The copy {point} was already there: kept."]
        assert databases_like(point) == [point]
        assert os.path.isdir(again["filestore"])
        missing = dataclasses.replace(prod.spec, db_name=f"{prod.db}_gone")
        with pytest.raises(OperationFailed, match="does not exist"):
            deploy.rollback_point(ctx, local_transport, missing, stamp=stamp)
        assert databases_like(f"{prod.db}_gone") == []
    finally:
        remove_production(prod)


def test_the_rollback_point_copies_both_at_once_and_cleans_up_either_failure(
    production_cluster, local_transport, tmp_path
):
    """The database and the filestore are copied by one detached command,
    both at the same time. The filestore's copy failing (a file in the way)
    drops the database copy just made and removes what was copied; the
    database missing removes the filestore copy made meanwhile."""
    prod = make_production(tmp_path / "production", start=False)
    try:
        ctx = JournalContext(str(tmp_path / "runs"))
        root = os.path.join(prod.data_dir, "filestore")
        with open(os.path.join(prod.filestore, "checksum-file"), "w") as handle:
            handle.write("attachment")
        made = deploy.rollback_point(
            ctx, local_transport, prod.spec, stamp="20261130120000"
        )
        assert [argv[0] for argv in ctx.order] == ["detached:rollback-point"]
        assert "cp -a --reflink=auto" in ctx.order[0][3]
        assert databases_like(made["database"]) == [made["database"]]
        assert made["filestore"] == f"{root}/{made['database']}"
        assert sorted(os.listdir(made["filestore"])) == sorted(
            os.listdir(prod.filestore)
        )

        point = f"{prod.db}_rb_20261130120001"
        with open(f"{root}/{point}", "w") as handle:
            handle.write("in the way")
        with pytest.raises(OperationFailed, match="The filestore could not be copied"):
            deploy.rollback_point(
                ctx, local_transport, prod.spec, stamp="20261130120001"
            )
        assert databases_like(point) == []
        assert not os.path.lexists(f"{root}/{point}")

        missing = dataclasses.replace(prod.spec, db_name=f"{prod.db}_gone")
        os.makedirs(f"{root}/{prod.db}_gone")
        with pytest.raises(OperationFailed, match="does not exist"):
            deploy.rollback_point(ctx, local_transport, missing, stamp="20261130120002")
        assert not os.path.lexists(f"{root}/{prod.db}_gone_rb_20261130120002")
    finally:
        remove_production(prod)


def gate_files(prod):
    """What an install started ahead leaves in the work directory besides
    its log: nothing once it ended."""
    return [
        name
        for name in os.listdir(prod.spec.work_dir)
        if name.startswith("install-ahead-") and not name.endswith(".log")
    ]


def _held_on_its_configuration(pipe):
    """The pid of the Odoo whose configuration file is ``pipe`` once it
    waits for it to be written (blocked opening the named pipe), else None."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().decode(errors="replace").split("\0")
            with open(f"/proc/{pid}/wchan") as handle:
                waits_on = handle.read()
        except OSError:
            continue
        if "-c" in argv[:-1] and argv[argv.index("-c") + 1] == pipe:
            return int(pid) if waits_on == "wait_for_partner" else None
    return None


def test_an_install_started_ahead_touches_nothing_before_its_gate_opens(
    production_cluster, local_transport, tmp_path
):
    """Started ahead, Odoo does its imports then waits for its configuration:
    it has no session on any database, has not written its log and has
    installed nothing. Told to stop, it ends unread ("dm-gate closed");
    started again and let through, it installs the module."""
    prod = make_production(tmp_path / "production", start=False)
    try:
        copy_module(sample("v1", "dm_sample_good"), prod.addons)
        ctx = JournalContext(str(tmp_path / "runs"))

        def ahead(stamp):
            return odoo_control.gated_install(
                ctx,
                prod.spec,
                ["dm_sample_good"],
                [],
                key="install-ahead",
                stamp=stamp,
                wait=600,
            )

        gate = ahead("20261130120000")
        odoo_control.launch_gated_install(ctx, local_transport, prod.spec, gate)
        pipe = gate["pipe"]
        deadline = time.monotonic() + 120
        while _held_on_its_configuration(pipe) is None:
            assert time.monotonic() < deadline, "Odoo never waited on its configuration"
            time.sleep(0.1)
        assert prod.rows(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ) == [["0"]]
        assert not os.path.exists(gate["log_file"])
        assert prod.module_state("dm_sample_good") == (None, None)

        open(gate["stop"], "w").close()
        status = ctx.run_detached(local_transport, gate["argv"], gate["key"])
        assert odoo_control.gate_closed(status)
        assert prod.module_state("dm_sample_good") == (None, None)
        assert not os.path.exists(gate["log_file"]) and gate_files(prod) == []

        gate = ahead("20261130120001")
        odoo_control.launch_gated_install(ctx, local_transport, prod.spec, gate)
        open(gate["go"], "w").close()
        status = ctx.run_detached(local_transport, gate["argv"], gate["key"])
        assert status.ok and not odoo_control.gate_closed(status)
        assert prod.module_state("dm_sample_good")[0] == "installed"
        assert os.path.exists(gate["log_file"]) and gate_files(prod) == []
    finally:
        remove_production(prod)


def test_a_failed_rollback_point_ends_the_install_ahead_unread(
    prod, local_transport, ctx, tmp_path
):
    """The rollback point failing for real (its filestore copy finds a file
    in the way), the install started ahead is ended before it read its
    configuration: the module is not installed, the sources are back and
    Odoo runs; nothing of the gate is left."""
    archive = make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])
    stamp = "20261130120000"
    in_the_way = os.path.join(prod.data_dir, "filestore", f"{prod.db}_rb_{stamp}")
    with open(in_the_way, "w") as handle:
        handle.write("in the way")

    with pytest.raises(deploy.DeploymentFailed) as failure:
        deploy.deployment_run(
            ctx,
            local_transport,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
            stamp=stamp,
        )

    assert "The filestore could not be copied" in str(failure.value)
    assert "The database was not changed" in str(failure.value)
    assert len(ctx.said(GATE_CLOSED)) == 1 and not ctx.said(GATE_OPEN)
    assert prod.module_state("dm_sample_good") == (None, None)
    assert not glob.glob(os.path.join(prod.spec.work_dir, "install-ahead-*.log"))
    assert gate_files(prod) == []
    assert not os.path.exists(os.path.join(prod.addons, "dm_sample_good"))
    assert http_status(prod.health_url) == 200


def test_an_install_ahead_stopped_with_odoo_runs_after_the_point(
    prod, local_transport, ctx, tmp_path
):
    """A stop command that ends every Odoo process of the host ends the
    install started ahead too, before it read its configuration: the
    install then runs after the rollback point, and the deployment is done."""
    archive = make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])
    stop_all = [
        "sh",
        "-c",
        'pkill -TERM -f -- "$1" ; shift; exec "$@"',
        "sh",
        # Odoo's own process: its interpreter first (not a shell around it).
        f"^[^ ]*python[^ ]* .* -c {prod.spec.work_dir}/install-ahead-",
        *prod.spec.odoo_stop_argv,
    ]
    spec = dataclasses.replace(prod.spec, odoo_stop_argv=stop_all)

    result = deploy.deployment_run(
        ctx,
        local_transport,
        spec,
        source={"kind": "zip", "path": archive, "addons_path": prod.addons},
    )

    assert result["phase"] == "done"
    assert len(ctx.said(GATE_CLOSED)) == 1
    assert "/install-upgrade-" in result["install_result"]["log_file"]
    assert prod.module_state("dm_sample_good") == ("installed", "18.0.1.0.0")
    assert gate_files(prod) == []
    assert http_status(prod.health_url) == 200


class CancelledDuringTheInstall(JournalContext):
    """Behaves as the journal does once a person cancels while the install
    runs: the install's command is reported with the cancel, and from then
    on every command is refused before it starts while the operation can
    still be cancelled (``cancellable``)."""

    def __init__(self, work_dir):
        super().__init__(work_dir)
        self.cancel_event = threading.Event()

    def _refuse(self):
        if self.cancellable and self.cancel_event.is_set():
            raise Cancelled("Cancelled on request.")

    def run(self, transport, argv, keep_output=True, **kwargs):
        self._refuse()
        return super().run(transport, argv, keep_output, **kwargs)

    def run_detached(self, transport, argv, key, **kwargs):
        self._refuse()
        status = super().run_detached(transport, argv, key, **kwargs)
        if key.startswith("install-"):
            self.cancel_event.set()
            raise Cancelled("Cancelled on request.", status)
        return status


def test_a_cancel_during_the_install_rolls_back_to_the_end(
    prod, local_transport, tmp_path
):
    """Cancelled while the install runs, Odoo stopped, the run goes no
    further and rolls back: the rollback's own commands run although the
    cancel was asked (they are what puts production back), the module is
    not installed and Odoo is healthy."""
    ctx = CancelledDuringTheInstall(str(tmp_path / "runs"))
    archive = make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])

    with pytest.raises(deploy.DeploymentFailed) as failure:
        deploy.deployment_run(
            ctx,
            local_transport,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
        )

    assert failure.value.rolled_back, str(failure.value)
    assert "Cancelled on request." in str(failure.value)
    assert failure.value.result["phase"] == "rolled_back"
    assert prod.module_state("dm_sample_good")[0] in (None, "uninstalled")
    assert not os.path.exists(os.path.join(prod.addons, "dm_sample_good"))
    assert http_status(prod.health_url) == 200


class LostPointContext(JournalContext):
    """The rollback point's command reported lost, as a journaled context
    does when the host lost it with the worker: it never ran here."""

    def run_detached(self, transport, argv, key, **kwargs):
        if key != "rollback-point":
            return super().run_detached(transport, argv, key, **kwargs)
        self.order.append([f"detached:{key}", *argv])
        return DetachedStatus("lost", None, "", "", 0, 0)


def test_a_lost_rollback_point_command_is_made_again(
    production_cluster, local_transport, tmp_path
):
    """The command copying both was lost (the worker's host, say): PostgreSQL
    is asked again, which makes the copy, and the filestore is copied on its
    own; the point is complete."""
    prod = make_production(tmp_path / "production", start=False)
    try:
        ctx = LostPointContext(str(tmp_path / "runs"))
        made = deploy.rollback_point(
            ctx, local_transport, prod.spec, stamp="20261130120000"
        )
        assert made["notes"] == []
        assert databases_like(made["database"]) == [made["database"]]
        assert sorted(os.listdir(made["filestore"])) == sorted(
            os.listdir(prod.filestore)
        )
        assert [argv[0] for argv in ctx.order if argv[0].startswith("detached:")] == [
            "detached:rollback-point",
            "detached:rollback-point-filestore",
        ]
    finally:
        remove_production(prod)


def test_nothing_reaches_the_addons_path_while_odoo_runs(prod, ssh, ctx, tmp_path):
    """What Odoo can load is unchanged as long as it runs: a stop command
    that records the addons path sees the previous sources only; the stop
    failing, the run fails with the database untouched, the addons path as
    it was and Odoo still running."""
    copy_module(sample("v1", "dm_sample_good"), prod.addons)
    before = tree(prod.addons)
    archive = make_zip(
        tmp_path / "release.zip",
        [sample("v1.1", "dm_sample_good"), sample("broken", "dm_sample_broken")],
    )
    seen = str(tmp_path / "seen-at-stop.json")
    # The modules Odoo would load from the addons path, manifests and all.
    record = (
        "import glob, json, os, sys; "
        "json.dump({m: open(m).read() for m in "
        "sorted(glob.glob(os.path.join(sys.argv[1], '*', '__manifest__.py')))}, "
        "open(sys.argv[2], 'w')); "
        "sys.exit('the stop command refused')"
    )
    manifest = os.path.join(prod.addons, "dm_sample_good", "__manifest__.py")
    with open(manifest) as handle:
        loadable = {manifest: handle.read()}
    spec = dataclasses.replace(
        prod.spec, odoo_stop_argv=[PYTHON, "-c", record, prod.addons, seen]
    )

    with pytest.raises(deploy.DeploymentFailed) as failure:
        deploy.deployment_run(
            ctx,
            ssh,
            spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
            upgrade=["dm_sample_good"],
            install=["dm_sample_broken"],
        )

    with open(seen) as handle:
        assert json.load(handle) == loadable
    assert "Stop Odoo" in str(failure.value)
    assert "the previous sources are back" in str(failure.value)
    assert tree(prod.addons) == before
    assert not [argv for argv in ctx.order if argv[0] == "mv"]
    assert failure.value.result["rollback_point"] is None
    assert prod.is_active()
    assert http_status(prod.health_url) == 200


def test_without_auto_rollback_a_person_decides(prod, ssh, ctx, tmp_path):
    """Told not to roll back by itself, a failed install raises
    RollbackAvailable with JSON-able rollback data and leaves Odoo stopped;
    the roll back chosen afterwards puts production back, healthy."""
    archive = make_zip(tmp_path / "broken.zip", [sample("broken", "dm_sample_broken")])

    with pytest.raises(deploy.RollbackAvailable) as failure:
        deploy.deployment_run(
            ctx,
            ssh,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
            auto_rollback=False,
        )

    data = json.loads(json.dumps(failure.value.rollback_data()))
    assert data["step"] == "install"
    assert data["point"]["database"] == f"{prod.db}_rb_{data['state']['stamp']}"
    assert data["deployed"]["modules"] == ["dm_sample_broken"]
    assert "roll back" in str(failure.value)
    assert not prod.is_active()

    result = deploy.resume_deployment(ctx, ssh, prod.spec, data["state"], "rollback")

    assert result["phase"] == "rolled_back"
    assert result["rollback"]["health"]["status"] == "HTTP 200"
    assert not os.path.exists(os.path.join(prod.addons, "dm_sample_broken"))
    assert prod.module_state("dm_sample_broken")[0] in (None, "uninstalled")
    assert http_status(prod.health_url) == 200


class ManagerDied(BaseException):
    """Stands for the manager's worker killed in the middle of a run."""


def _state_at(phase, done, **values):
    """A deployment run's saved state at ``phase``, as deployment_run keeps it."""
    state = {
        "stamp": "20260101000000",
        "phase": phase,
        "done": list(done),
        "failed_step": None,
        "failure": None,
        "source": {},
        "install": [],
        "upgrade": [],
        "expected_versions": {},
        "auto_rollback": False,
        "restart_database": False,
        "deployed": None,
        "checks": [],
        "backup": None,
        "rollback_point": None,
        "install_result": None,
        "versions": {},
        "health": None,
        "log_check": None,
        "rollback": None,
        "stopped_at": None,
        "healthy_at": None,
        "downtime": None,
        "attempts": {},
        "ignored": [],
        "notes": [],
    }
    state.update(values)
    return state


def test_log_check_failure_after_go_live_waits_for_a_manager(prod, ssh, ctx, tmp_path):
    """A log check failing once Odoo serves users again never rolls back on its own,
    even with automatic rollback: the message says a rollback would set aside what
    was written since, by table, and production stays as it is, serving."""
    archive = make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])

    def log_check(ctx, transport, spec):
        # Users at work between the health check and the log check.
        prod.rows(
            "INSERT INTO res_partner (name, complete_name, active, type) "
            "SELECT 'After go-live ' || n, 'After go-live ' || n, true, 'contact' "
            "FROM generate_series(1, 3) n RETURNING id"
        )
        return "fail", "1 new error signature(s)"

    with pytest.raises(deploy.RollbackAvailable) as waiting:
        deploy.deployment_run(
            ctx,
            ssh,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
            log_check=log_check,
            auto_rollback=True,
        )

    message = str(waiting.value)
    assert "nothing was rolled back automatically" in message
    assert "res_partner: 3" in message
    # The rollback point was taken; nothing of a rollback ran.
    assert [argv[0] for argv in ctx.order if "rollback" in argv[0]] == [
        "detached:rollback-point"
    ]
    assert prod.module_state("dm_sample_good") == ("installed", "18.0.1.0.0")
    written = "SELECT count(*) FROM res_partner WHERE name LIKE 'After go-live %'"
    assert prod.rows(written) == [["3"]]
    assert prod.is_active()


NEW_ERROR_LOG = (
    "2026-11-27 03:00:01,123 4242 ERROR prod odoo.addons.dm_sample_good.models: "
    "Cannot compute the total of record 42\n"
    "Traceback (most recent call last):\n"
    '  File "/srv/addons/dm_sample_good/models.py", line 7, in _compute\n'
    "    raise KeyError(42)\n"
    "KeyError: 42\n"
)


@pytest.mark.parametrize("shape", ["result", "pair"])
def test_a_failed_log_check_names_the_signature(local_transport, tmp_path, shape):
    """A log check failed by a new ERROR fails the deployment with a message
    naming the signature: its logger, its first line and its exception,
    whether the hook returns check_log's result or (verdict, reason)."""
    log = tmp_path / "odoo.log"
    log.write_text(NEW_ERROR_LOG)

    def log_check(ctx, transport, spec):
        result = check_log(ctx, transport, str(log))
        return result if shape == "result" else (result["verdict"], result["reason"])

    state = _state_at(
        "log_check",
        deploy.BEFORE_STOP + deploy.AFTER_STOP[:-1],
        rollback_point={"database": "dm_point", "created_at": "2026-11-27"},
    )
    with pytest.raises(deploy.RollbackAvailable) as failure:
        deploy.resume_deployment(
            SimpleContext(str(tmp_path / "runs")),
            local_transport,
            EnvironmentSpec(name="development"),
            state,
            log_check=log_check,
        )

    message = str(failure.value)
    assert "The log check failed: 1 new error signature(s): ERROR " in message
    assert "odoo.addons.dm_sample_good.models" in message
    assert "“Cannot compute the total of record <n>” (KeyError)" in message
    assert failure.value.rollback_data()["state"]["log_check"]["verdict"] == "fail"


def test_a_log_check_without_reason_says_so(local_transport, tmp_path):
    """A hook that gives only the verdict fails the deployment saying that
    no reason was given, not with a bare '-'."""
    state = _state_at(
        "log_check",
        deploy.BEFORE_STOP + deploy.AFTER_STOP[:-1],
        rollback_point={"database": "dm_point", "created_at": "2026-11-27"},
    )
    with pytest.raises(deploy.RollbackAvailable, match="gave no reason"):
        deploy.resume_deployment(
            SimpleContext(str(tmp_path / "runs")),
            local_transport,
            EnvironmentSpec(name="development"),
            state,
            log_check=lambda: "fail",
        )


def test_a_state_saved_before_the_stop_is_not_taken_on(local_transport, tmp_path):
    """A run saved in the phase "deploy" by the earlier order (sources moved
    in, Odoo never stopped) is ended as a run interrupted before the stop,
    never continued past a stop that did not happen."""
    ctx = JournalContext(str(tmp_path / "runs"))
    state = _state_at("deploy", ["precheck", "backup"])

    with pytest.raises(deploy.DeploymentFailed, match="interrupted before the stop"):
        deploy.resume_deployment(
            ctx, local_transport, EnvironmentSpec(name="production"), state
        )
    assert ctx.order == []


def test_run_taken_up_after_the_manager_died(prod, local_transport, tmp_path):
    """A run whose manager died after the install, Odoo stopped, is finished
    from its saved state: PostgreSQL restarted, Odoo started and healthy, the
    downtime counted from the original stop."""
    archive = make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])
    saved = []

    def on_state(state):
        saved.append(json.loads(json.dumps(state)))
        if state["phase"] == "restart_database":
            raise ManagerDied()

    with pytest.raises(ManagerDied):
        deploy.deployment_run(
            SimpleContext(str(tmp_path / "first")),
            local_transport,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
            on_state=on_state,
        )
    assert not prod.is_active()
    stopped_at = saved[-1]["stopped_at"]

    result = deploy.resume_deployment(
        SimpleContext(str(tmp_path / "second")), local_transport, prod.spec, saved[-1]
    )

    assert result["phase"] == "done"
    assert result["versions"] == {"dm_sample_good": "18.0.1.0.0"}
    assert result["downtime"] == pytest.approx(
        result["healthy_at"] - stopped_at, abs=0.01
    )
    assert prod.module_state("dm_sample_good") == ("installed", "18.0.1.0.0")
    assert http_status(prod.health_url) == 200


@pytest.mark.parametrize(
    "url",
    [
        "-uhttps://example.com/repo.git",
        "ext::sh -c touch% /tmp/pwned",
        "https://user:secret@example.com/repo.git",
        "relative/path",
        "https://example.com/repo.git?x=1",
    ],
)
def test_unsafe_repository_urls_are_refused(url):
    """Option-looking, ext::, password-carrying, relative or query URLs are
    refused before git ever sees them."""
    with pytest.raises(deploy.OperationFailed):
        deploy.validate_repo_url(SimpleContext(), url)


def test_refs_and_repository_urls_accepted():
    """https, ssh, scp-like and local repositories and ordinary refs pass."""
    ctx = SimpleContext()
    for url in (
        "https://github.com/OCA/server-tools.git",
        "ssh://git@example.com:2222/odoo/custom.git",
        "git@github.com:OCA/server-tools.git",
        "/srv/git/custom",
        "file:///srv/git/custom",
    ):
        assert deploy.validate_repo_url(ctx, url) == url
    for ref in ("18.0", "v1.1", "release/2026-11", "a" * 40):
        assert deploy.validate_ref(ctx, ref) == ref
    for ref in ("-b", "a..b", "HEAD~1", "x y"):
        with pytest.raises(deploy.OperationFailed):
            deploy.validate_ref(ctx, ref)


def test_exception_summary_names_the_cause():
    """The summary of a chained traceback gives the cause Odoo wrapped."""
    traceback = """\
Traceback (most recent call last):
  File "x.py", line 1, in f
ValueError: External ID not found in the system: m.missing

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "convert.py", line 2, in parse
odoo.tools.convert.ParseError: while parsing data.xml:3
"""
    assert deploy.exception_summary(traceback) == (
        "ValueError: External ID not found in the system: m.missing; raised as "
        "odoo.tools.convert.ParseError: while parsing data.xml:3"
    )

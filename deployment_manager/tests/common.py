# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the tests share: real sshd hosts, a real Odoo environment, users."""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import psycopg2
import psycopg2.sql

from odoo.tests import new_test_user
from odoo.tools import config

from ..remote.tests.sshd_rig import SshdHost

# A real Odoo 18 database the tests discover: built once, kept between runs.
FIXTURE_DB = os.environ.get("DM_FIXTURE_DB", "dm_fixture_production")


def odoo_command():
    """The odoo executable of the Odoo running these tests."""
    candidate = os.path.join(os.path.dirname(sys.executable), "odoo")
    return candidate if os.path.exists(candidate) else shutil.which("odoo")


def _database_exists(name):
    connection = psycopg2.connect(dbname="postgres", **_pg_args())
    try:
        with connection.cursor() as cr:
            cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return bool(cr.fetchone())
    finally:
        connection.close()


def _pg_args():
    args = {}
    for key, option in (
        ("host", "db_host"),
        ("port", "db_port"),
        ("user", "db_user"),
        ("password", "db_password"),
    ):
        if config.get(option):
            args[key] = config[option]
    return args


def ensure_fixture_environment():
    """A real Odoo environment: a database with base, its config file and filestore.

    Returns a dict with the paths and names the tests configure environments with.
    """
    root = os.path.join(tempfile.gettempdir(), "dm_fixture_environment")
    data_dir = os.path.join(root, "data")
    os.makedirs(os.path.join(data_dir, "filestore", FIXTURE_DB, "ab"), exist_ok=True)
    with open(
        os.path.join(data_dir, "filestore", FIXTURE_DB, "ab", "abcdef"), "wb"
    ) as handle:
        handle.write(b"x" * 4096)
    os.makedirs(os.path.join(root, "backups"), exist_ok=True)
    config_path = os.path.join(root, "odoo.conf")
    with open(config_path, "w") as handle:
        handle.write(
            "[options]\n"
            f"db_name = {FIXTURE_DB}\n"
            f"data_dir = {data_dir}\n"
            f"logfile = {root}/odoo.log\n"
            f"addons_path = {os.path.dirname(os.path.dirname(__file__))}\n"
            "admin_passwd = fixture-master-password\n"
        )
    if not _database_exists(FIXTURE_DB):
        subprocess.run(
            [
                odoo_command(),
                "-d",
                FIXTURE_DB,
                "-i",
                "base",
                "--stop-after-init",
                "--without-demo=all",
                "--no-http",
                "--log-level=warn",
                "--logfile",
                os.path.join(root, "build.log"),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=600,
        )
    return {
        "root": root,
        "config_path": config_path,
        "db_name": FIXTURE_DB,
        "data_dir": data_dir,
        "backup_dir": os.path.join(root, "backups"),
        "odoo_command": odoo_command(),
    }


class DeploymentTestMixin:
    """Users of each kind and helpers; used by TransactionCase and HttpCase classes."""

    @classmethod
    def _setup_users(cls):
        cls.manager = new_test_user(
            cls.env,
            login="dm_manager",
            groups="deployment_manager.group_deployment_manager",
            name="Deployment Manager Test",
        )
        cls.user = new_test_user(
            cls.env,
            login="dm_deploy_user",
            groups="deployment_manager.group_deployment_user",
            name="Deployment User Test",
        )
        cls.deployer = new_test_user(
            cls.env,
            login="dm_deployer",
            groups="deployment_manager.group_deployment_deployer",
            name="Deployer Test",
        )
        cls.stranger = new_test_user(
            cls.env, login="dm_stranger", groups="base.group_user", name="Stranger Test"
        )

    @classmethod
    def _start_sshd(cls, address="127.0.0.2"):
        sshd = SshdHost(address=address)
        sshd.start()
        cls.addClassCleanup(sshd.stop)
        return sshd

    @classmethod
    def _create_ssh_host(cls, sshd, name="Test server", pinned=True):
        vals = {
            "name": name,
            "kind": "ssh",
            "hostname": sshd.address,
            "port": sshd.port,
            "username": sshd.username,
            "auth_method": "key",
            "private_key": sshd.client_key_text,
        }
        host = cls.env["deployment.host"].create(vals)
        if pinned:
            host.sudo().write(
                {
                    "host_key_type": sshd.host_key_type,
                    "host_key_base64": sshd.host_key_base64,
                }
            )
        return host

    def run_queue(self):
        """What the cron does, in the test's transaction."""
        self.env["deployment.operation"]._cron_run_operations()

    def last_operation(self, **domain):
        return self.env["deployment.operation"].search(
            [(key, "=", value) for key, value in domain.items()],
            order="id desc",
            limit=1,
        )


def make_environment_copy(name):
    """A production of a test's own: copies of the fixture database and files.

    Returns the same keys as ensure_fixture_environment; drop_databases()
    removes the copy and what operations derived from it.
    """
    fixture = ensure_fixture_environment()
    root = os.path.join(tempfile.gettempdir(), f"dm_env_{name}")
    shutil.rmtree(root, ignore_errors=True)
    data_dir = os.path.join(root, "data")
    filestore = os.path.join(data_dir, "filestore", name)
    os.makedirs(os.path.join(filestore, "0a"))
    for index in range(5):
        with open(os.path.join(filestore, "0a", f"file{index}"), "wb") as handle:
            handle.write(os.urandom(2048))
    os.makedirs(os.path.join(root, "backups"))
    config_path = os.path.join(root, "odoo.conf")
    with open(config_path, "w") as handle:
        handle.write(
            f"[options]\ndb_name = {name}\ndata_dir = {data_dir}\n"
            f"logfile = {root}/odoo.log\n"
        )
    drop_databases(name)
    connection = psycopg2.connect(dbname="postgres", **_pg_args())
    connection.autocommit = True
    try:
        with connection.cursor() as cr:
            cr.execute(
                psycopg2.sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    psycopg2.sql.Identifier(name),
                    psycopg2.sql.Identifier(fixture["db_name"]),
                )
            )
    finally:
        connection.close()
    return dict(
        fixture,
        root=root,
        config_path=config_path,
        db_name=name,
        data_dir=data_dir,
        backup_dir=os.path.join(root, "backups"),
    )


def drop_databases(prefix):
    """Drop the database named prefix and every one named prefix_…"""
    connection = psycopg2.connect(dbname="postgres", **_pg_args())
    connection.autocommit = True
    try:
        with connection.cursor() as cr:
            cr.execute(
                "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
                (prefix, prefix.replace("_", "\\_") + "\\_%"),
            )
            for (name,) in cr.fetchall():
                cr.execute(
                    psycopg2.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                        psycopg2.sql.Identifier(name)
                    )
                )
    finally:
        connection.close()


def query(dbname, sql, params=()):
    connection = psycopg2.connect(dbname=dbname, **_pg_args())
    connection.autocommit = True
    try:
        with connection.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall() if cr.description else None
    finally:
        connection.close()


def production_environment_vals(prod, host_id, name="Production"):
    """The fields of an environment that operates a test production server
    (``ops/tests/production.py``): its program, files, database and services."""
    spec = prod.spec
    return {
        "name": name,
        "environment_type": "production",
        "host_id": host_id,
        "odoo_command": shlex.join(spec.odoo_argv),
        "odoo_config_path": spec.config_path,
        "db_name": spec.db_name,
        "db_port": spec.db_port,
        "data_dir": spec.data_dir,
        "addons_paths": prod.addons,
        "log_file": spec.log_file,
        "backup_dir": spec.backup_dir,
        "odoo_stop_command": shlex.join(spec.odoo_stop_argv),
        "odoo_start_command": shlex.join(spec.odoo_start_argv),
        "odoo_restart_command": shlex.join(spec.odoo_restart_argv),
        "odoo_status_command": shlex.join(spec.odoo_status_argv),
        "pg_restart_command": shlex.join(spec.pg_restart_argv),
        "pg_status_command": shlex.join(spec.pg_status_argv),
        "health_url": spec.health_url,
    }


def make_tested_development(root, cleanup):
    """The files and database of a development environment (its Odoo not
    started) whose custom addons hold ``dm_sample_tested``, a module with one
    passing and one failing test; ``cleanup`` (a test's addCleanup or
    addClassCleanup) removes them."""
    from ..ops.tests.production import (
        copy_module,
        ensure_cluster,
        ensure_template,
        make_production,
        remove_production,
        sample,
    )

    ensure_cluster()
    ensure_template()
    development = make_production(os.path.join(root, "development"), start=False)
    cleanup(remove_production, development)
    copy_module(sample("tested", "dm_sample_tested"), development.addons)
    return development


def development_environment_vals(development, host_id, name, **vals):
    """The fields of a development environment operating ``development``."""
    return {
        **production_environment_vals(development, host_id, name),
        "environment_type": "development",
        **vals,
    }


# A plan's risk questionnaire answered the lightest way (R1).
LOW_RISK = {"risk_users_affected": "few", "risk_rollback": "easy"}
# A landscape that announces a go-live the same day whatever the risk: for
# tests whose go-lives are hours away (the lead time has its own tests).
SAME_DAY_ANNOUNCEMENTS = {
    f"plan_lead_days_{level}": 0 for level in ("low", "medium", "high", "critical")
}

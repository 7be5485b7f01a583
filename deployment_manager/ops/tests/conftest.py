"""A throwaway "production" for the backup and restore tests, made for real.

Its database lives in the local PostgreSQL cluster (plain SQL: no Odoo is
needed to prove the bundle), its filestore, configuration file, custom
addons git checkout and extra path in a temporary directory. Every database
a test creates under its name (``_restore_``, ``_before_`` copies) is
dropped afterwards.
"""

import dataclasses
import os
import secrets
import subprocess

import pytest

from ...remote import LocalTransport, SshTransport
from ...remote.tests.sshd_rig import SshdHost
from ..spec import EnvironmentSpec
from .pg import databases_like, drop_database, psql

ODOO_VERSION_ARGV = ["sh", "-c", "echo Odoo Server 18.0-test", "odoo"]
# Never valid anywhere: only there to prove it never reaches a command line.
DB_PASSWORD = "not-a-password-7f3a9c"
INSTALLED_MODULES = [
    ("base", "18.0.1.3"),
    ("custom_sales", "18.0.1.0.2"),
    ("web", "18.0.1.0"),
]


def git(path, *args):
    subprocess.run(
        [
            "git",
            "-C",
            path,
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            *args,
        ],
        check=True,
        capture_output=True,
    )


@dataclasses.dataclass
class Production:
    spec: EnvironmentSpec
    db: str
    root: str
    filestore: str
    config: str
    addons: str
    extra: str
    commit: str

    def rows(self, db=None):
        return psql(db or self.db, "SELECT * FROM partner ORDER BY id")


def _write_random_files(directory, count, rng_seed):
    os.makedirs(directory, exist_ok=True)
    for index in range(count):
        sub = os.path.join(directory, "%02x" % ((rng_seed + index) % 7))
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"file{index:03d}"), "wb") as handle:
            handle.write(os.urandom(200 + index * 37))


def make_production(root):
    """A database with data, a filestore, a config, addons in git, an extra path."""
    root = str(root)
    db = f"dm_ops_{secrets.token_hex(4)}"
    subprocess.run(["createdb", "--", db], check=True, capture_output=True)
    modules = ", ".join(
        f"('{name}', '{version}', 'installed')" for name, version in INSTALLED_MODULES
    )
    psql(
        db,
        "CREATE TABLE partner (id serial PRIMARY KEY, name text);"
        "INSERT INTO partner (name) SELECT 'Partner ' || g "
        "FROM generate_series(1, 1000) g;"
        "CREATE TABLE ir_module_module (name varchar, latest_version varchar, "
        "state varchar);"
        f"INSERT INTO ir_module_module VALUES {modules}, "
        "('sale', '18.0.1.2', 'uninstalled');",
    )
    data_dir = os.path.join(root, "data")
    filestore = os.path.join(data_dir, "filestore", db)
    _write_random_files(filestore, 50, 3)
    config = os.path.join(root, "etc", "odoo.conf")
    os.makedirs(os.path.dirname(config))
    with open(config, "w") as handle:
        handle.write(f"[options]\ndb_name = {db}\ndata_dir = {data_dir}\n")
    addons = os.path.join(root, "src", "custom_addons")
    module = os.path.join(addons, "custom_sales")
    os.makedirs(module)
    with open(os.path.join(module, "__manifest__.py"), "w") as handle:
        handle.write("{'name': 'Custom sales', 'version': '18.0.1.0.2'}\n")
    git(addons, "init", "-q")
    git(addons, "add", "-A")
    git(addons, "commit", "-q", "-m", "Custom sales")
    commit = subprocess.run(
        ["git", "-C", addons, "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(module, "__manifest__.py"), "a") as handle:
        handle.write("# edited on the server, never committed\n")
    extra = os.path.join(root, "shared", "documents")
    _write_random_files(extra, 5, 11)
    spec = EnvironmentSpec(
        name="production",
        odoo_argv=list(ODOO_VERSION_ARGV),
        config_path=config,
        db_name=db,
        db_password=DB_PASSWORD,
        data_dir=data_dir,
        addons_paths=[addons],
        backup_dir=os.path.join(root, "backups"),
    )
    return Production(spec, db, root, filestore, config, addons, extra, commit)


def remove_production(production):
    for name in databases_like(production.db):
        drop_database(name)


@pytest.fixture(scope="session", autouse=True)
def postgresql_running():
    if subprocess.run(["pg_isready", "-q"], check=False).returncode != 0:
        subprocess.run(["pg_ctlcluster", "15", "main", "start"], check=True)


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """One production for the tests that only read it."""
    made = make_production(tmp_path_factory.mktemp("production"))
    yield made
    remove_production(made)


@pytest.fixture
def fresh_production(tmp_path):
    """A production of the test's own, for tests that restore into it."""
    made = make_production(tmp_path)
    yield made
    remove_production(made)


@pytest.fixture
def local():
    with LocalTransport() as transport:
        yield transport


@pytest.fixture(scope="module")
def ssh_host():
    with SshdHost("127.0.0.7") as rig:
        yield rig


@pytest.fixture
def ssh(ssh_host):
    with SshTransport(ssh_host.ssh_config()) as transport:
        yield transport

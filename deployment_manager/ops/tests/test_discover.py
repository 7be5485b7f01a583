"""Discover for real: configuration files on disk, databases in the local
PostgreSQL cluster and in the deployment tests' own cluster (15/dmprod,
port 5439, see ``production.py``), over the local transport and SSH.

The environment form gives every environment the port 5432 by default, so
the specs here carry it as the model does.
"""

import dataclasses
import json
import os
import secrets
import subprocess

import pytest

from ..context import OperationFailed, SimpleContext
from ..discover import discover
from ..results import DiscoveryResult
from ..spec import EnvironmentSpec
from . import production as dmprod
from .conftest import INSTALLED_MODULES, ODOO_VERSION_ARGV
from .pg import drop_database, psql
from .typed_check import typed

SECRET = "s3cret-discover-5e1a"
INSTALLED = sorted(name for name, _version in INSTALLED_MODULES)


def _write_config(tmp_path, text, name="odoo.conf"):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def _spec(config_path, **values):
    return EnvironmentSpec(
        name="production",
        odoo_argv=list(ODOO_VERSION_ARGV),
        config_path=config_path,
        **{"db_port": 5432, **values},  # 5432: the environment form's default
    )


def _module_names(snapshot):
    return sorted(module["name"] for module in snapshot["modules"])


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # An option before any section header.
        ("db_password = {secret}\n[options]\ndb_name = x\n", 1),
        # An option given twice: Odoo's parser refuses it, Odoo would not start.
        ("[options]\ndb_password = a\ndb_password = {secret}\n", 3),
        # A line that is no option: a missing "=".
        ("[options]\ndb_name = x\ndb_password {secret}\n", 3),
    ],
)
def test_unparsable_configuration_names_the_line_not_its_content(
    tmp_path, local, text, line
):
    """A configuration file that cannot be parsed fails discovery with the
    file and the line number, and never with the line's content."""
    path = _write_config(tmp_path, text.format(secret=SECRET))

    with pytest.raises(OperationFailed) as info:
        discover(SimpleContext(), local, _spec(path))

    message = str(info.value)
    assert path in message and f"line {line}:" in message
    assert SECRET not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_database_named_only_in_the_configuration(production, ssh):
    """With no database name of its own, the environment's database is the
    one the configuration names, read over SSH; the result says the name
    came from the configuration."""
    spec = _spec(production.config, db_password=None)

    snapshot = discover(SimpleContext(), ssh, spec)

    assert _module_names(snapshot) == INSTALLED
    assert snapshot["database_size"] > 0
    assert snapshot["connection"] == {"db_name": production.db}
    assert snapshot["connection_from_config"] == ["db_name"]
    assert snapshot["effective"]["db_name"] == production.db
    assert snapshot["warnings"] == []


@pytest.fixture(scope="module")
def own_cluster_db():
    """A database in a cluster of its own (15/dmprod, port 5439) that no
    database of the main cluster is named like."""
    dmprod.ensure_cluster()
    db = f"dm_disc_{secrets.token_hex(4)}"
    subprocess.run(
        ["createdb", "-p", str(dmprod.PORT), "--", db], check=True, capture_output=True
    )
    try:
        rows = ", ".join(f"('{n}', '{v}', 'installed')" for n, v in INSTALLED_MODULES)
        psql(
            db,
            "CREATE TABLE ir_module_module (name varchar, latest_version varchar, "
            f"state varchar); INSERT INTO ir_module_module VALUES {rows};",
            port=dmprod.PORT,
        )
        yield db
    finally:
        drop_database(db, port=dmprod.PORT)


def test_database_on_its_own_cluster_is_read_there(own_cluster_db, tmp_path, local):
    """A production whose odoo.conf says db_port = 5439 (its own cluster) is
    read on that port although the environment has the default 5432; the
    result gives every connection setting of the configuration, never the
    password's value, and says which ones were used."""
    path = _write_config(
        tmp_path,
        f"[options]\ndb_port = {dmprod.PORT}\ndb_name = {own_cluster_db}\n"
        f"db_user = root\ndb_password = {SECRET}\n",
    )

    snapshot = discover(SimpleContext(), local, _spec(path))

    typed(DiscoveryResult, snapshot)
    assert _module_names(snapshot) == INSTALLED
    assert snapshot["connection"] == {
        "db_port": dmprod.PORT,
        "db_name": own_cluster_db,
        "db_user": "root",
        "db_password_set": True,
    }
    assert snapshot["connection_from_config"] == [
        "db_port",
        "db_user",
        "db_name",
        "db_password",
    ]
    assert snapshot["effective"]["db_port"] == dmprod.PORT
    assert SECRET not in json.dumps(snapshot)


def test_a_port_set_by_hand_wins_with_a_warning(own_cluster_db, tmp_path, local):
    """A port the environment sets by hand (not the default) is kept, and a
    warning says the configuration file gives another."""
    other = dmprod.free_port()
    path = _write_config(
        tmp_path, f"[options]\ndb_port = {other}\ndb_name = {own_cluster_db}\n"
    )

    snapshot = discover(SimpleContext(), local, _spec(path, db_port=dmprod.PORT))

    assert _module_names(snapshot) == INSTALLED
    assert snapshot["effective"]["db_port"] == dmprod.PORT
    assert snapshot["connection_from_config"] == ["db_name"]
    (warning,) = snapshot["warnings"]
    assert str(dmprod.PORT) in warning and str(other) in warning
    assert warning in snapshot["notes"]


def test_unreachable_database_fails_instead_of_an_empty_success(tmp_path, local):
    """A database that cannot be reached (nothing listens on the port the
    configuration gives) fails discovery with the database, the port, where
    the port came from and the reason: never a snapshot with no module."""
    port = dmprod.free_port()
    path = _write_config(
        tmp_path, f"[options]\ndb_port = {port}\ndb_name = dm_disc_nowhere\n"
    )

    with pytest.raises(OperationFailed) as info:
        discover(SimpleContext(), local, _spec(path))

    message = str(info.value)
    assert "dm_disc_nowhere" in message
    assert f"port {port}" in message
    assert "from the configuration file" in message
    assert "exit code 2" in message


def test_missing_database_fails(production, local):
    """A database name the cluster does not know fails discovery too."""
    spec = dataclasses.replace(
        _spec(production.config), db_name="dm_disc_no_such_database"
    )

    with pytest.raises(OperationFailed, match="dm_disc_no_such_database"):
        discover(SimpleContext(), local, spec)

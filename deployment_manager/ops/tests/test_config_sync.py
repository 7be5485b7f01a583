"""Apply production's configuration and the drift report, for real: two
databases in the local PostgreSQL cluster (plain SQL: an
``ir_config_parameter`` table is all it takes) and two configuration files,
over the local transport and over SSH."""

import configparser
import dataclasses
import json
import os
import secrets
import stat
import subprocess

import pytest

from ...remote import SshTransport
from ...remote.tests.sshd_rig import SshdHost
from ..config_sync import (
    apply_configuration,
    drift,
    drift_report,
    own_option,
    read_config,
    read_parameters,
    secret_option,
)
from ..context import OperationFailed, SimpleContext
from ..results import ConfigurationApplied, ConfigurationDrift
from ..spec import EnvironmentSpec
from .typed_check import typed

PROD_SECRET = "prod-db-secret-4b1e"
TARGET_SECRET = "target-db-secret-9c2d"
PROD_ADMIN = "prod-master-e81f"
TARGET_ADMIN = "target-master-07aa"
PROD_SMTP = "prod-smtp-pw-5d3c"
TARGET_SMTP = "target-smtp-pw-a9b0"
PROD_SMTP_USER = "prod-mailer-61f0@example.com"
TARGET_SMTP_USER = "target-mailer-3e7d@example.com"
PROD_STORAGE_KEY = "prod-storage-key-0c4f"
PROD_LDAP = "prod-ldap-bind-77b2"
TARGET_LDAP = "target-ldap-bind-d5e1"
SECRET_VALUES = (
    PROD_SECRET,
    TARGET_SECRET,
    PROD_ADMIN,
    TARGET_ADMIN,
    PROD_SMTP,
    TARGET_SMTP,
    PROD_SMTP_USER,
    TARGET_SMTP_USER,
    PROD_STORAGE_KEY,
    PROD_LDAP,
    TARGET_LDAP,
)
# Survives COPY's text format: backslash, tab, newline, quotes.
ODD_VALUE = "a\\b\tc\nd 'e' \"f\" %(g)s"

PROD_CONFIG = """\
[options]
; production
db_name = {db}
http_port = 8069
data_dir = /srv/prod/data
logfile = /var/log/odoo/prod.log
workers = 8
max_cron_threads = 2
limit_time_real = 300
limit_time_cpu = 60
admin_passwd = {admin}
smtp_server = smtp.example.com
smtp_user = {smtp_user}
smtp_password = {smtp}
list_db = False
s3_storage_key = {storage_key}

[queue_job]
channels = root:4

[auth_ldap]
bind_password = {ldap}
"""
TARGET_CONFIG = """\
[options]
db_name = {db}
http_port = 8169
data_dir = {data_dir}
logfile = {logfile}
workers = 2
limit_time_real = 120
limit_time_cpu = 60
admin_passwd = {admin}
smtp_server = smtp.preprod.example.com
smtp_user = {smtp_user}
smtp_password = {smtp}
list_db = False

[auth_ldap]
bind_password = {ldap}
bind_dn = cn=preprod
"""


def psql(db, sql):
    """Rows of a query as lists of text, through the real psql (port 5432)."""
    output = subprocess.run(
        ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split("|") for line in output.splitlines() if line]


def params_of(db):
    """The parameters but the multi-line odd.value (checked on its own)."""
    return dict(
        psql(
            db,
            "SELECT key, value FROM ir_config_parameter WHERE key <> 'odd.value'",
        )
    )


def drop_database(name):
    subprocess.run(
        ["dropdb", "--if-exists", "--force", "--", name],
        check=True,
        capture_output=True,
    )


@dataclasses.dataclass
class Pair:
    source: EnvironmentSpec
    target: EnvironmentSpec
    root: str

    def target_config_text(self):
        with open(self.target.config_path) as handle:
            return handle.read()


def _make_db(params, made):
    db = f"dm_cfg_{secrets.token_hex(4)}"
    subprocess.run(["createdb", "--", db], check=True, capture_output=True)
    made.append(db)  # dropped by the fixture even if the rest fails
    psql(db, "CREATE TABLE ir_config_parameter (key varchar PRIMARY KEY, value text)")
    rows = ", ".join(
        "(%s, %s)" % (_literal(key), _literal(value)) for key, value in params.items()
    )
    psql(db, f"INSERT INTO ir_config_parameter (key, value) VALUES {rows}")
    return db


def _literal(value):
    return "E'%s'" % (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\t", "\\t")
    )


def _write(path, text, mode=0o640):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


@pytest.fixture
def pair(tmp_path):
    made = []
    try:
        yield _make_pair(str(tmp_path), made)
    finally:
        for db in made:
            drop_database(db)


def _make_pair(root, made):
    prod_db = _make_db(
        {
            "database.secret": PROD_SECRET,
            "database.uuid": "11111111-prod",
            "web.base.url": "https://erp.example.com",
            "mail.catchall.domain": "example.com",
            "auth_signup.invitation_scope": "b2b",
            "odd.value": ODD_VALUE,
            "google_maps_api_key": "prod-maps-key",
        },
        made,
    )
    target_db = _make_db(
        {
            "database.secret": TARGET_SECRET,
            "database.uuid": "22222222-target",
            "database.is_neutralized": "true",
            "web.base.url": "https://preprod.example.com",
            "mail.catchall.domain": "preprod.example.com",
            "auth_signup.invitation_scope": "b2b",
            "target.only": "gone after apply",
        },
        made,
    )
    prod_config = os.path.join(root, "prod", "odoo.conf")
    target_config = os.path.join(root, "target", "etc", "odoo.conf")
    _write(
        prod_config,
        PROD_CONFIG.format(
            db=prod_db,
            admin=PROD_ADMIN,
            smtp=PROD_SMTP,
            smtp_user=PROD_SMTP_USER,
            storage_key=PROD_STORAGE_KEY,
            ldap=PROD_LDAP,
        ),
    )
    _write(
        target_config,
        TARGET_CONFIG.format(
            db=target_db,
            data_dir=os.path.join(root, "target", "data"),
            logfile=os.path.join(root, "target", "odoo.log"),
            admin=TARGET_ADMIN,
            smtp=TARGET_SMTP,
            smtp_user=TARGET_SMTP_USER,
            ldap=TARGET_LDAP,
        ),
    )
    source = EnvironmentSpec(name="production", config_path=prod_config)
    target = EnvironmentSpec(
        name="preproduction",
        config_path=target_config,
        db_name=target_db,
        data_dir=os.path.join(root, "target", "data"),
    )
    return Pair(source, target, root)


def _assert_no_secret(report):
    text = json.dumps(report)
    for value in SECRET_VALUES:
        assert value not in text


def test_drift_is_pure_and_leaves_secrets_out():
    """Secrets, the outgoing mail account and the connection settings are
    the target's own: not drift, their values never in the report."""
    own = {
        "smtp_password": "a",
        "smtp_user": "mailer-a",
        "admin_passwd": "m-a",
        "db_password": "d-a",
        "ldap_bindpasswd": "l-a",
        "google_api_key": "k-a",
        "auth_token": "t-a",
        "db_host": "db-a",
        "db_port": "5434",
        "db_user": "odoo-a",
    }
    report = drift(
        {"limit_time_real": "300", "http_port": "8069", **own},
        {
            "limit_time_real": "120",
            "http_port": "8169",
            **{key: value.replace("a", "b") for key, value in own.items()},
        },
        {"mail.catchall.domain": "x", "database.secret": "s1", "a.token": "t1"},
        {"mail.catchall.domain": "y", "database.secret": "s2", "a.token": "t2"},
    )
    assert report == {
        "options": [{"key": "limit_time_real", "source": "300", "target": "120"}],
        "parameters": [{"key": "mail.catchall.domain", "source": "x", "target": "y"}],
        "count": 2,
    }
    assert drift({}, {}, {}, {})["count"] == 0


def test_secret_and_own_options():
    """Options named like a credential are secrets; ordinary ones are not."""
    for name in (
        "admin_passwd",
        "db_password",
        "smtp_password",
        "ldap_bindpasswd",
        "smtppassword",
        "s3_secret_key",
        "api_key",
        "github_token",
        "ldap_pw",
    ):
        assert secret_option(name), name
        assert own_option(name), name
    for name in ("limit_time_real", "workers", "keyboard_layout", "monkey_patch"):
        assert not secret_option(name), name
    for name in ("smtp_user", "smtp_server", "db_host", "db_port", "db_name"):
        assert own_option(name) and not secret_option(name), name
    assert own_option("custom_option", own_options=("custom_option",))


def test_read_excludes_secret_parameters(pair, local):
    ctx = SimpleContext()
    options = read_config(ctx, local, pair.target)
    assert options["http_port"] == "8169"
    params = read_parameters(ctx, local, pair.target)
    assert params == {
        "mail.catchall.domain": "preprod.example.com",
        "auth_signup.invitation_scope": "b2b",
        "target.only": "gone after apply",
    }


def _check_before(before):
    assert {"key": "limit_time_real", "source": "300", "target": "120"} in before[
        "options"
    ]
    option_keys = {line["key"] for line in before["options"]}
    # The target's own options, secrets included, are not drift.
    assert not option_keys & {
        "db_name",
        "http_port",
        "workers",
        "admin_passwd",
        "smtp_server",
        "smtp_user",
        "smtp_password",
        "s3_storage_key",
    }
    assert {
        "key": "mail.catchall.domain",
        "source": "example.com",
        "target": "preprod.example.com",
    } in before["parameters"]
    param_keys = {line["key"] for line in before["parameters"]}
    assert not param_keys & {
        "database.secret",
        "database.uuid",
        "web.base.url",
        "database.is_neutralized",
        "google_maps_api_key",
    }
    _assert_no_secret(before)


def _check_applied(pair, result, target_db):
    assert result["before"]["count"] > 0
    assert result["after"] == {"options": [], "parameters": [], "count": 0}
    assert result["parameters_written"] == 2  # mail.catchall.domain, odd.value
    assert result["parameters_removed"] == 1  # target.only
    _assert_no_secret(result)

    config = pair.target.config_path
    assert result["config_backup"].startswith(config + ".before-")
    with open(result["config_backup"]) as handle:
        assert "limit_time_real = 120" in handle.read()
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o640
    assert not [n for n in os.listdir(os.path.dirname(config)) if ".new-" in n]
    text = pair.target_config_text()
    assert "limit_time_real = 300" in text
    assert f"db_name = {target_db}" in text
    assert "http_port = 8169" in text
    assert f"data_dir = {pair.target.data_dir}" in text
    assert f"logfile = {pair.root}/target/odoo.log" in text
    assert "workers = 2" in text
    assert "max_cron_threads" not in text  # not set on the target: stays unset
    _check_target_kept_its_own(text)

    params = params_of(target_db)
    assert params["database.secret"] == TARGET_SECRET
    assert params["database.uuid"] == "22222222-target"
    assert params["web.base.url"] == "https://preprod.example.com"
    assert params["database.is_neutralized"] == "true"
    assert params["mail.catchall.domain"] == "example.com"
    assert "target.only" not in params
    assert "google_maps_api_key" not in params
    exact = psql(
        target_db,
        "SELECT value = %s FROM ir_config_parameter "
        "WHERE key = 'odd.value'" % _literal(ODD_VALUE),
    )
    assert exact == [["t"]]


def _check_target_kept_its_own(text):
    """The target's secrets, mail account and sections, and none of
    production's."""
    assert f"admin_passwd = {TARGET_ADMIN}" in text
    assert f"smtp_password = {TARGET_SMTP}" in text
    assert f"smtp_user = {TARGET_SMTP_USER}" in text
    assert "smtp_server = smtp.preprod.example.com" in text
    assert f"[auth_ldap]\nbind_password = {TARGET_LDAP}\nbind_dn = cn=preprod\n" in text
    for value in (PROD_ADMIN, PROD_SMTP, PROD_SMTP_USER, PROD_STORAGE_KEY, PROD_LDAP):
        assert value not in text
    assert "s3_storage_key" not in text  # not set on the target: stays unset
    assert "[queue_job]" not in text  # production's section is not copied
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.sections() == ["options", "auth_ldap"]


def test_apply_keeps_the_targets_secrets_and_sections(pair, local):
    """Applying production's configuration copies none of its secrets, mail
    account or other sections: the target keeps its own, and neither the
    drift report nor the result holds a secret value."""
    ctx = SimpleContext()
    result = apply_configuration(
        ctx, local, pair.source, local, pair.target, stamp="secrets-1"
    )
    _check_target_kept_its_own(pair.target_config_text())
    _assert_no_secret(result)
    _assert_no_secret(drift_report(ctx, local, pair.source, local, pair.target))
    assert result["after"]["count"] == 0


def test_drift_then_apply_local(pair, local):
    ctx = SimpleContext()
    before = drift_report(ctx, local, pair.source, local, pair.target)
    _check_before(before)
    typed(ConfigurationDrift, before)
    result = apply_configuration(
        ctx, local, pair.source, local, pair.target, stamp="20240501-1200"
    )
    typed(ConfigurationApplied, result)
    assert result["before"] == before
    _check_applied(pair, result, pair.target.db_name)
    assert drift_report(ctx, local, pair.source, local, pair.target)["count"] == 0
    # Nothing secret reached a command line.
    for command in ctx.commands:
        for value in SECRET_VALUES:
            assert value not in " ".join(command.argv)


def test_existing_backup_is_never_overwritten(pair, local):
    ctx = SimpleContext()
    backup = pair.target.config_path + ".before-same"
    _write(backup, "kept\n")
    original = pair.target_config_text()
    with pytest.raises(OperationFailed, match="already exists"):
        apply_configuration(ctx, local, pair.source, local, pair.target, stamp="same")
    with open(backup) as handle:
        assert handle.read() == "kept\n"
    assert pair.target_config_text() == original
    with pytest.raises(OperationFailed, match="stamp"):
        apply_configuration(ctx, local, pair.source, local, pair.target, stamp="../x")


@pytest.mark.parametrize(
    ("broken", "line", "problem"),
    [
        ("db_password = s3cret\n[options]\n", 1, "before the first section"),
        (
            "[options]\ndb_name = a\ndb_password = x\ndb_password = s3cret\n",
            4,
            "set a second time",
        ),
        ("[options]\ndb_name = a\ndb_password s3cret\n", 3, "neither"),
        ("[options]\ndb_password = s3cret\n[options]\n", 3, "second time"),
    ],
)
def test_unparsable_target_configuration_is_a_clear_error(
    pair, local, broken, line, problem
):
    """A configuration file Odoo's parser would refuse stops the operation
    before anything is written; the error names the file, the line number
    and the kind of problem, and never quotes the line."""
    ctx = SimpleContext()
    _write(pair.target.config_path, broken)
    with pytest.raises(OperationFailed, match="cannot be parsed") as info:
        apply_configuration(ctx, local, pair.source, local, pair.target, stamp="p1")
    message = str(info.value)
    assert pair.target.config_path in message
    assert f"line {line}:" in message and problem in message
    assert "s3cret" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert pair.target_config_text() == broken
    assert not os.path.exists(pair.target.config_path + ".before-p1")


def test_excluded_parameters_are_left_alone(pair, local):
    """Keys the target's neutralization rewrites are neither compared nor written."""
    ctx = SimpleContext()
    result = apply_configuration(
        ctx,
        local,
        pair.source,
        local,
        pair.target,
        stamp="n1",
        exclude_parameters=("mail.catchall.domain",),
    )
    assert result["after"]["count"] == 0
    assert "mail.catchall.domain" not in json.dumps(result)
    params = params_of(pair.target.db_name)
    assert params["mail.catchall.domain"] == "preprod.example.com"


@pytest.fixture(scope="module")
def target_host():
    with SshdHost("127.0.0.17") as rig:
        yield rig


def test_drift_then_apply_over_ssh(pair, local, target_host):
    """Production read locally, the target over SSH (another host's view)."""
    ctx = SimpleContext()
    with SshTransport(target_host.ssh_config()) as ssh:
        before = drift_report(ctx, local, pair.source, ssh, pair.target)
        _check_before(before)
        result = apply_configuration(
            ctx, local, pair.source, ssh, pair.target, stamp="ssh-1"
        )
        _check_applied(pair, result, pair.target.db_name)
        assert drift_report(ctx, ssh, pair.source, ssh, pair.target)["count"] == 0

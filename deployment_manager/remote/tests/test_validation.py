"""Validation of values that end up in remote command lines."""

import pytest

from ..errors import InvalidInput, RemoteError
from ..validation import (
    split_command,
    validate_argv,
    validate_database_name,
    validate_env,
    validate_hostname,
    validate_module_name,
    validate_path,
    validate_service_name,
    validate_username,
)

HOSTILE = [
    "",
    "x;rm -rf /",
    "$(id)",
    "`id`",
    "a b",
    "a\nb",
    "-rf",
    "a|b",
    "a&b",
    "a'b",
    'a"b',
    "a>b",
]


@pytest.mark.parametrize(
    "validator, good",
    [
        (validate_module_name, ["sale", "my_module_2", "l10n_fr"]),
        (validate_database_name, ["prod", "prod-2024.01", "Staging_1"]),
        (validate_service_name, ["odoo", "postgresql@15-main", "odoo-18.service"]),
        (validate_username, ["root", "odoo", "_svc", "deploy-1"]),
    ],
)
def test_names_accept_valid_and_reject_hostile_values(validator, good):
    """Name validators return valid values unchanged and reject injections."""
    for value in good:
        assert validator(value) == value
    for value in [*HOSTILE, "..", "../etc", None, 5]:
        if value == ".." and validator is validate_service_name:
            continue
        with pytest.raises(InvalidInput):
            validator(value)


def test_service_name_rejects_traversal_like_values():
    """A service name cannot start with a dot or a dash."""
    for value in ("..", ".hidden", "-x", "a/b"):
        with pytest.raises(InvalidInput):
            validate_service_name(value)


def test_module_name_rejects_uppercase_and_overlong():
    """Module names are lowercase and at most 128 characters."""
    for value in ("Sale", "a" * 129, "sale-order"):
        with pytest.raises(InvalidInput):
            validate_module_name(value)


def test_database_name_limits():
    """Database names start with a letter or digit and are at most 63 characters."""
    assert validate_database_name("a" * 63)
    for value in ("a" * 64, "-prod", ".prod", "prod db", "prod\n"):
        with pytest.raises(InvalidInput):
            validate_database_name(value)


def test_paths():
    """Paths must be absolute, normalised and free of shell metacharacters."""
    for value in (
        "/",
        "/var/lib/odoo",
        "/opt/odoo/addons-18.0/x_y",
        "/srv/a@b+c=d,e:f~g",
    ):
        assert validate_path(value) == value
    for value in [
        *HOSTILE,
        "relative/path",
        "/var/../etc",
        "/var/./lib",
        "/var//lib",
        "//var",
        "/var/lib/",
        "/tmp/-rf",
        "/tmp/a b",
        "/tmp/a\nb",
        "/tmp/a;b",
        "/tmp/$(id)",
        "/tmp/`id`",
        "/tmp/..",
        None,
    ]:
        with pytest.raises(InvalidInput):
            validate_path(value)


def test_invalid_input_names_the_field_and_value():
    """The message names the field and shows the rejected value's repr."""
    with pytest.raises(InvalidInput) as info:
        validate_path("/tmp/a;b", field="backup directory")
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, RemoteError)
    assert error.reason == "invalid_input"
    assert "backup directory" in str(error)
    assert repr("/tmp/a;b") in str(error)


def test_hostnames():
    """Host names are DNS names or IP literals, never option-like."""
    for value in (
        "db.example.com",
        "host-1",
        "127.0.0.2",
        "::1",
        "fe80::1",
        "localhost",
    ):
        assert validate_hostname(value) == value
    for value in ("-oProxyCommand=x", "a b", "a;b", "", "a..b", "a_b.com", "x" * 300):
        with pytest.raises(InvalidInput):
            validate_hostname(value)


def test_argv():
    """argv must be a non-empty list of strings without NUL bytes."""
    assert validate_argv(("ls", "-l")) == ["ls", "-l"]
    for value in ([], "ls -l", ["ls", None], ["ls", "a\0b"], [""], None):
        with pytest.raises(InvalidInput):
            validate_argv(value)


def test_env():
    """Env names are identifiers; values hold no newline and are not echoed."""
    assert validate_env({"PGPASSWORD": "x y $z"}) == {"PGPASSWORD": "x y $z"}
    assert validate_env(None) == {}
    for value in ({"A B": "x"}, {"1A": "x"}, {"A": 1}):
        with pytest.raises(InvalidInput):
            validate_env(value)
    with pytest.raises(InvalidInput) as info:
        validate_env({"PGPASSWORD": "secret\nline"})
    assert "secret" not in str(info.value)


def test_split_command():
    """An administrator's command line is split like a shell would, not run."""
    assert split_command("odoo-bin -c '/etc/odoo/odoo.conf' --stop-after-init") == [
        "odoo-bin",
        "-c",
        "/etc/odoo/odoo.conf",
        "--stop-after-init",
    ]
    assert split_command("echo $(id)") == ["echo", "$(id)"]
    for value in ("", "   ", "a\nb", "a\0b", "echo 'unclosed", None):
        with pytest.raises(InvalidInput):
            split_command(value)

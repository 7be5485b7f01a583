"""Apply production's configuration to a target, and the drift report (issue 4,
operation 3).

The target's Odoo configuration file becomes production's, but for the
options that are the target's own (:data:`TARGET_OWN_OPTIONS`); production's
system parameters (``ir_config_parameter``) are written into the target's
database, but for the secrets and the environment's identity
(:func:`excluded_parameter`). The drift report compares two environments
option by option and parameter by parameter; it never shows a secret value.

Configuration files and parameter listings hold passwords: their content is
read without ever being journaled, and secret parameters do not even leave
the database (they are filtered in the query as well as here).
"""

import configparser
import io
import json
import re

from .backup import SHORT_TIMEOUT, checked_database, checked_path, why
from .context import OperationFailed
from .i18n import _
from .odoo_config import parse_odoo_config

MASK = "********"

# The options that stay the target's own: applying production's configuration
# keeps the target's value (or its absence) for each of them.
TARGET_OWN_OPTIONS = frozenset(
    {
        # Its own database server, database, credentials and connections:
        # a copy must never reach production's database.
        "db_name",
        "db_host",
        "db_port",
        "db_user",
        "db_password",
        "db_sslmode",
        "db_maxconn",
        "db_maxconn_gevent",
        "db_replica_host",
        "db_replica_port",
        "db_template",
        "dbfilter",
        "log_db",
        # Its own network side: ports and interfaces on its host, and what its
        # front proxy does (proxy headers, X-Sendfile).
        "http_port",
        "http_interface",
        "http_enable",
        "gevent_port",
        "longpolling_port",
        "proxy_mode",
        "x_sendfile",
        # Its own paths on its host. addons_path too: the module alignment
        # (operation 4) brings the code of each path to production's, but
        # where the checkouts live is the host's business.
        "addons_path",
        "upgrade_path",
        "pre_upgrade_scripts",
        "data_dir",
        "logfile",
        "pidfile",
        "geoip_city_db",
        "geoip_country_db",
        "screenshots",
        "screencasts",
        # Its own sizing: a development machine is not production's server,
        # and a replica may run without crons.
        "workers",
        "max_cron_threads",
        # The master password never spreads from production.
        "admin_passwd",
    }
)
# Options whose values are secrets: compared, but shown masked. Any option
# with a secret word in its name (see SECRET_WORDS) is one too.
SECRET_OPTIONS = frozenset({"admin_passwd", "db_password", "smtp_password"})
# Parameters never read out of the database, compared nor shown: secrets and
# the database's identity. Any key with a secret word in it is one too.
SECRET_PARAMETERS = frozenset(
    {
        "database.secret",
        "database.uuid",
        "database.create_date",
        "database.enterprise_code",
        "database.expiration_date",
        "database.expiration_reason",
    }
)
# Parameters that are not secret but belong to each environment: its own URL
# and the neutralization mark. Neither compared nor written.
ENVIRONMENT_PARAMETERS = frozenset(
    {
        "database.is_neutralized",
        "web.base.url",
        "web.base.url.freeze",
        "report.url",
    }
)
# A key or option name holding one of these words (split on anything but
# letters and digits: "google_maps_api_key", "auth.token") is a secret.
SECRET_WORDS = (
    "secret",
    "secrets",
    "password",
    "passwd",
    "token",
    "tokens",
    "key",
    "keys",
    "apikey",
)
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
STAMP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# The same exclusion in the query, so secrets never leave the database. Built
# from the constants above only: nothing in it comes from outside.
_EXCLUDED_SQL_KEYS = ", ".join(
    f"'{key}'" for key in sorted(SECRET_PARAMETERS | ENVIRONMENT_PARAMETERS)
)
READ_PARAMETERS_SQL = (
    "SELECT coalesce(json_object_agg(key, value ORDER BY key), '{}') "
    "FROM ir_config_parameter "
    f"WHERE key NOT IN ({_EXCLUDED_SQL_KEYS}) "
    f"AND key !~* '(^|[^a-z0-9])({'|'.join(SECRET_WORDS)})([^a-z0-9]|$)'"
)
# One transaction (psql --single-transaction): the values come as COPY data
# on standard input, never inside SQL text. Then Odoo's caches are told to
# reload, where its signaling sequences exist (a running Odoo still needs a
# restart for the configuration file).
APPLY_PARAMETERS_SQL = """\
CREATE TEMP TABLE dm_set (key varchar PRIMARY KEY, value text) ON COMMIT DROP;
CREATE TEMP TABLE dm_unset (key varchar PRIMARY KEY) ON COMMIT DROP;
COPY dm_set (key, value) FROM STDIN;
%(set)s\\.
COPY dm_unset (key) FROM STDIN;
%(unset)s\\.
WITH written AS (
  INSERT INTO ir_config_parameter (key, value)
  SELECT key, value FROM dm_set
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
  WHERE ir_config_parameter.value IS DISTINCT FROM EXCLUDED.value
  RETURNING 1
), removed AS (
  DELETE FROM ir_config_parameter p USING dm_unset u WHERE p.key = u.key
  RETURNING 1
)
SELECT 'dm-result|' || (SELECT count(*) FROM written) || '|'
  || (SELECT count(*) FROM removed);
SELECT count(nextval(c.oid::regclass)) FROM pg_class c
WHERE c.relkind = 'S' AND c.relname LIKE 'base\\_cache\\_signaling%%';
"""
# New content beside the file, with the file's own mode and owner (it holds
# passwords), then renamed over it: Odoo never reads a half-written file.
BACKUP_SH = (
    'if [ -e "$2" ]; then echo "$2 already exists" >&2; exit 17; fi; cp -p -- "$1" "$2"'
)
WRITE_NEW_SH = 'umask 077 && cp -p -- "$1" "$2" && cat > "$2"'


def _words(name):
    return set(_WORD_SPLIT.split((name or "").lower()))


def secret_option(name):
    return name in SECRET_OPTIONS or bool(_words(name) & set(SECRET_WORDS))


def excluded_parameter(key, extra=()):
    """True for a parameter never compared nor written (secret or the
    environment's own); ``extra`` adds keys, e.g. those the environment's
    neutralization rules rewrite."""
    return (
        key in SECRET_PARAMETERS
        or key in ENVIRONMENT_PARAMETERS
        or key in extra
        or bool(_words(key) & set(SECRET_WORDS))
    )


def _read_config_text(ctx, transport, spec):
    if not spec.config_path:
        raise OperationFailed(
            ctx.text(_("No configuration file is set for %(env)s."), env=spec.name)
        )
    path = checked_path(spec.config_path, "configuration file")
    # The file holds passwords: its content is never journaled.
    result = ctx.run(transport, ["cat", "--", path], keep_output=False)
    if not result.ok:
        raise OperationFailed(
            ctx.text(
                _("Configuration file %(path)s cannot be read: %(reason)s"),
                path=path,
                reason=why(ctx, result),
            )
        )
    data = result.stdout.full_bytes()
    if data is None:
        raise OperationFailed(
            ctx.text(_("Configuration file %(path)s is too large."), path=path)
        )
    return data.decode("utf-8", "replace")


def _parsed(ctx, path, parse, *args):
    """``parse(*args)``, a file that cannot be parsed said in a clear error."""
    try:
        return parse(*args)
    except configparser.Error as error:
        raise OperationFailed(
            ctx.text(
                _("Configuration file %(path)s cannot be parsed: %(reason)s"),
                path=path,
                reason=str(error).splitlines()[0],
            )
        ) from None


def read_config(ctx, transport, spec):
    """The ``[options]`` of the environment's configuration file, as a dict."""
    text = _read_config_text(ctx, transport, spec)
    return _parsed(ctx, spec.config_path, parse_odoo_config, text)


def _database_spec(spec, options):
    """The spec completed, where it is silent, by its configuration file."""
    from .discover import _effective_spec

    password = spec.db_password or options.get("db_password") or None
    if password in ("False", "false"):
        password = None
    return _effective_spec(spec, options, password)


def read_parameters(ctx, transport, spec, *, exclude=()):
    """The system parameters of the environment's database, key -> value.

    Secret and environment-specific keys (and ``exclude``) are left out; the
    output is never journaled.
    """
    db = checked_database(ctx, spec.db_name)
    result = ctx.run(
        transport,
        spec.psql_argv(READ_PARAMETERS_SQL),
        keep_output=False,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
        timeout=SHORT_TIMEOUT,
    )
    if not result.ok:
        raise OperationFailed(
            ctx.text(
                _("The system parameters of %(db)s cannot be read: %(reason)s"),
                db=db,
                reason=why(ctx, result),
            )
        )
    try:
        params = json.loads(result.stdout.full_bytes().decode("utf-8") or "{}")
    except (ValueError, AttributeError):
        raise OperationFailed(
            ctx.text(
                _("The system parameters of %(db)s cannot be read: %(reason)s"),
                db=db,
                reason=ctx.text(_("unexpected output")),
            )
        ) from None
    return {
        key: value
        for key, value in params.items()
        if not excluded_parameter(key, exclude)
    }


def _differences(source, target, mask=None):
    lines = []
    for key in sorted(set(source) | set(target)):
        src, tgt = source.get(key), target.get(key)
        if src == tgt:
            continue
        if mask and mask(key):
            src = None if src is None else MASK
            tgt = None if tgt is None else MASK
        lines.append({"key": key, "source": src, "target": tgt})
    return lines


def drift(
    source_options,
    target_options,
    source_params,
    target_params,
    *,
    own_options=(),
    exclude_parameters=(),
):
    """What differs between two environments: a pure function.

    Options the target keeps as its own (:data:`TARGET_OWN_OPTIONS`,
    ``own_options``) are not compared; a secret option that differs is listed
    with its values masked. Secret and environment-specific parameters (and
    ``exclude_parameters``) are not compared. A value missing on one side is
    None there.
    """

    def comparable_options(options):
        return {
            key: value
            for key, value in options.items()
            if key not in TARGET_OWN_OPTIONS and key not in own_options
        }

    def comparable_params(params):
        return {
            key: value
            for key, value in params.items()
            if not excluded_parameter(key, exclude_parameters)
        }

    options = _differences(
        comparable_options(source_options),
        comparable_options(target_options),
        mask=secret_option,
    )
    parameters = _differences(
        comparable_params(source_params), comparable_params(target_params)
    )
    return {
        "options": options,
        "parameters": parameters,
        "count": len(options) + len(parameters),
    }


def _read_environment(ctx, transport, spec, exclude):
    options = read_config(ctx, transport, spec)
    params = read_parameters(
        ctx, transport, _database_spec(spec, options), exclude=exclude
    )
    return options, params


def drift_report(
    ctx,
    source_transport,
    source_spec,
    target_transport,
    target_spec,
    *,
    own_options=(),
    exclude_parameters=(),
):
    """Read both environments and compare them (see :func:`drift`)."""
    with ctx.step(
        ctx.text(_("Read the configuration of %(env)s"), env=source_spec.name)
    ):
        src = _read_environment(ctx, source_transport, source_spec, exclude_parameters)
    with ctx.step(
        ctx.text(_("Read the configuration of %(env)s"), env=target_spec.name)
    ):
        tgt = _read_environment(ctx, target_transport, target_spec, exclude_parameters)
    return drift(
        src[0],
        tgt[0],
        src[1],
        tgt[1],
        own_options=own_options,
        exclude_parameters=exclude_parameters,
    )


def merged_config_text(source_text, target_text, target_spec, own_options=()):
    """Production's configuration file with the target's own options.

    Every section of production's file is kept (some addons read their own);
    in ``[options]`` each of the target's own options takes the target's
    value, or is left out when the target does not set it; db_name, data_dir
    and logfile come from the target's spec when it sets them. Comments are
    not kept (the previous file is).
    """
    source = configparser.RawConfigParser(strict=False)
    source.read_string(source_text)
    target = parse_odoo_config(target_text)
    if not source.has_section("options"):
        source.add_section("options")
    own = TARGET_OWN_OPTIONS | set(own_options)
    for key in own:
        if key in target:
            source.set("options", key, target[key])
        else:
            source.remove_option("options", key)
    for key, value in (
        ("db_name", target_spec.db_name),
        ("data_dir", target_spec.data_dir),
        ("logfile", target_spec.log_file),
    ):
        if value:
            source.set("options", key, value)
    out = io.StringIO()
    out.write(
        "; Production's configuration with this environment's own options,\n"
        "; written by deployment_manager.\n"
    )
    source.write(out)
    return out.getvalue()


def apply_configuration(
    ctx,
    source_transport,
    source_spec,
    target_transport,
    target_spec,
    *,
    stamp,
    own_options=(),
    exclude_parameters=(),
):
    """Make the target's configuration production's, but for its own options.

    The target's configuration file is rewritten (the previous one kept as
    ``<config>.before-<stamp>``) and production's system parameters are
    written into the target's database in one transaction; the target's
    parameters that production does not have are removed, secret and
    environment-specific ones are never touched. ``exclude_parameters`` are
    keys left alone too: those the target's neutralization rules rewrite.

    Returns ``{"before", "after", "config_backup", "parameters_written",
    "parameters_removed"}``, before and after being drift reports.
    """
    if not STAMP_RE.fullmatch(stamp or ""):
        raise OperationFailed(
            ctx.text(_("Invalid stamp for the backup file: %(stamp)s"), stamp=stamp)
        )
    with ctx.step(
        ctx.text(_("Read the configuration of %(env)s"), env=source_spec.name)
    ):
        source_text = _read_config_text(ctx, source_transport, source_spec)
        source_options = _parsed(
            ctx, source_spec.config_path, parse_odoo_config, source_text
        )
        source_params = read_parameters(
            ctx,
            source_transport,
            _database_spec(source_spec, source_options),
            exclude=exclude_parameters,
        )
    with ctx.step(
        ctx.text(_("Read the configuration of %(env)s"), env=target_spec.name)
    ):
        target_text = _read_config_text(ctx, target_transport, target_spec)
        target_options = _parsed(
            ctx, target_spec.config_path, parse_odoo_config, target_text
        )
        target_db_spec = _database_spec(target_spec, target_options)
        target_params = read_parameters(
            ctx, target_transport, target_db_spec, exclude=exclude_parameters
        )
    before = drift(
        source_options,
        target_options,
        source_params,
        target_params,
        own_options=own_options,
        exclude_parameters=exclude_parameters,
    )

    with ctx.step(_("Write the configuration file")):
        new_text = _parsed(
            ctx,
            source_spec.config_path,
            merged_config_text,
            source_text,
            target_text,
            target_spec,
            own_options,
        )
        backup = _replace_file(
            ctx, target_transport, target_spec.config_path, new_text, stamp
        )

    with ctx.step(_("Write the system parameters")):
        unset = sorted(set(target_params) - set(source_params))
        written, removed = _write_parameters(
            ctx, target_transport, target_db_spec, source_params, unset
        )

    # One step, not drift_report's: steps are not nested, and their labels
    # are unique within an operation.
    with ctx.step(_("Compare the configurations again")):
        src = _read_environment(ctx, source_transport, source_spec, exclude_parameters)
        tgt = _read_environment(ctx, target_transport, target_spec, exclude_parameters)
        after = drift(
            src[0],
            tgt[0],
            src[1],
            tgt[1],
            own_options=own_options,
            exclude_parameters=exclude_parameters,
        )
    return {
        "before": before,
        "after": after,
        "config_backup": backup,
        "parameters_written": written,
        "parameters_removed": removed,
    }


def _replace_file(ctx, transport, path, text, stamp):
    """Keep ``path`` as ``path.before-<stamp>`` and put ``text`` in its place."""
    path = checked_path(path, "configuration file")
    backup = checked_path(f"{path}.before-{stamp}", "configuration backup")
    new = checked_path(f"{path}.new-{stamp}", "configuration file")
    result = ctx.run(transport, ["sh", "-c", BACKUP_SH, "sh", path, backup])
    if not result.ok:
        raise OperationFailed(
            ctx.text(
                _("%(path)s cannot be kept as %(backup)s: %(reason)s"),
                path=path,
                backup=backup,
                reason=why(ctx, result),
            )
        )
    result = ctx.run(
        transport,
        ["sh", "-c", WRITE_NEW_SH, "sh", path, new],
        stdin_data=text.encode(),
    )
    if result.ok:
        result = ctx.run(transport, ["mv", "-f", "--", new, path])
    if not result.ok:
        ctx.run(transport, ["rm", "-f", "--", new])
        raise OperationFailed(
            ctx.text(
                _("%(path)s cannot be written (it is unchanged): %(reason)s"),
                path=path,
                reason=why(ctx, result),
            )
        )
    return backup


def _copy_field(value):
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def _write_parameters(ctx, transport, spec, params, unset):
    db = checked_database(ctx, spec.db_name)
    rows = "".join(
        f"{_copy_field(key)}\t{_copy_field(value)}\n"
        for key, value in sorted(params.items())
    )
    keys = "".join(f"{_copy_field(key)}\n" for key in unset)
    script = APPLY_PARAMETERS_SQL % {"set": rows, "unset": keys}
    argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
    argv += ["--single-transaction", *spec.pg_connection_args(), "-d", db]
    result = ctx.run(
        transport,
        [*argv, "-f", "-"],
        stdin_data=script.encode(),
        env=spec.db_env(),
        secrets=spec.db_secrets(),
        timeout=SHORT_TIMEOUT,
    )
    counts = [
        line.split("|")[1:]
        for line in result.stdout.text().splitlines()
        if line.startswith("dm-result|")
    ]
    if not result.ok or len(counts) != 1:
        raise OperationFailed(
            ctx.text(
                _(
                    "The system parameters of %(db)s cannot be written (none "
                    "was; the configuration file is already replaced): %(reason)s"
                ),
                db=db,
                reason=why(ctx, result),
            )
        )
    return int(counts[0][0]), int(counts[0][1])

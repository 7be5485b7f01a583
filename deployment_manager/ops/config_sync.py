"""Apply production's configuration to a target, and the drift report (issue 4,
operation 3).

The target's Odoo configuration file becomes production's, but for the
options that are the target's own (:func:`own_option`: its connections,
paths, sizing, outgoing mail and every secret) and for its other sections,
which stay as they are; production's system parameters
(``ir_config_parameter``) are written into the target's database, but for
the secrets and the environment's identity (:func:`excluded_parameter`).
The drift report compares two environments option by option and parameter
by parameter; it never shows a secret value.

Configuration files and parameter listings hold passwords: their content is
read without ever being journaled, a file that cannot be parsed is reported
by line number and never quoted, and secret parameters do not even leave
the database (they are filtered in the query as well as here).

:func:`connection_spec` is where every operation learns how Odoo itself
reaches its database: the configuration file's connection settings.
"""

import configparser
import io
import json
import re
from dataclasses import replace

from ..remote import (
    InvalidInput,
    validate_database_name,
    validate_hostname,
    validate_port,
    validate_username,
)
from .common import SHORT_TIMEOUT, checked_database, checked_path, why
from .context import OperationFailed
from .i18n import _

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
        # Its own outgoing mail: a copy must never send mail through
        # production's mail account, as production, with its credentials
        # (the neutralization takes the mail servers of the database away;
        # these are the ones of the file).
        "smtp_server",
        "smtp_port",
        "smtp_ssl",
        "smtp_user",
        "smtp_password",
        "smtp_ssl_certificate_filename",
        "smtp_ssl_private_key_filename",
        "email_from",
        "from_filter",
    }
)
# Options whose values are secrets. Any option whose name holds a secret
# word is one too (see secret_option); every secret is the target's own.
SECRET_OPTIONS = frozenset({"admin_passwd", "db_password", "smtp_password"})
# An option name holding one of these, even glued to another word
# ("smtppassword", "ldap_bindpasswd", "s3_secretkey"), is a secret. Option
# names are few and ours to read: a false alarm only keeps the target's
# own value of an option.
SECRET_OPTION_PARTS = ("password", "passwd", "secret", "token", "apikey", "credential")
# ... and these only as a word of their own ("api_key", "ldap_pw"): glued,
# they are ordinary ("monkey", "keyboard", "compass").
SECRET_OPTION_WORDS = frozenset({"key", "keys", "pw", "pwd", "pass"})
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
    """True for an option holding a credential: never copied, never shown."""
    lowered = (name or "").lower()
    return (
        name in SECRET_OPTIONS
        or any(part in lowered for part in SECRET_OPTION_PARTS)
        or bool(_words(name) & (SECRET_OPTION_WORDS | set(SECRET_WORDS)))
    )


def own_option(name, own_options=()):
    """True for an option that stays the target's own (value or absence):
    :data:`TARGET_OWN_OPTIONS`, the caller's ``own_options`` and every
    secret."""
    return name in TARGET_OWN_OPTIONS or name in own_options or secret_option(name)


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


def read_config_text(ctx, transport, spec):
    """The environment's configuration file as text; never journaled."""
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


# What is wrong with a file configparser refuses, in general words: its own
# messages quote the offending line, and that line may be "db_password = …".
# The most specific kind first (a missing header is a parsing error too).
_PARSE_PROBLEMS = (
    (
        configparser.MissingSectionHeaderError,
        _("an option comes before the first section header (such as [options])"),
    ),
    (configparser.DuplicateSectionError, _("a section is given a second time")),
    (
        configparser.DuplicateOptionError,
        _("an option is set a second time in the same section"),
    ),
    (
        configparser.ParsingError,
        _(
            "the line is neither a section header, an option (name = value) "
            "nor a comment"
        ),
    ),
)


def parse_config(ctx, path, text):
    """An Odoo configuration file's text, parsed as Odoo parses it.

    A RawConfigParser as strict as Odoo's (an option or a section given
    twice is an error: Odoo would not start), without interpolation (a '%'
    in a password is not an error). A file that cannot be parsed raises
    OperationFailed naming the file, the line number and the kind of
    problem, never the line itself.
    """
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as error:
        # from None: the exception we leave carries the offending line.
        raise OperationFailed(_parse_error(ctx, path, error)) from None
    return parser


def _parse_error(ctx, path, error):
    problem = next(
        (text for kind, text in _PARSE_PROBLEMS if isinstance(error, kind)), None
    )
    # A parsing error lists its lines (numbers and text), the others have one
    # number.
    listed = getattr(error, "errors", None) or []
    lines = [number for number, _line in listed[:5]] or [getattr(error, "lineno", None)]
    lines = [str(number) for number in lines if isinstance(number, int)]
    if problem is None or not lines:
        return ctx.text(
            _(
                "Configuration file %(path)s cannot be parsed: it is not in the "
                "format Odoo reads."
            ),
            path=path,
        )
    return ctx.text(
        _("Configuration file %(path)s cannot be parsed, line %(line)s: %(problem)s."),
        path=path,
        line=", ".join(lines),
        problem=ctx.text(problem),
    )


def options_of(parser):
    """The ``[options]`` of a parsed configuration file, as Odoo reads them."""
    return dict(parser.items("options")) if parser.has_section("options") else {}


def read_config(ctx, transport, spec):
    """The ``[options]`` of the environment's configuration file, as a dict."""
    text = read_config_text(ctx, transport, spec)
    return options_of(parse_config(ctx, spec.config_path, text))


# ----------------------------------------------------------------------
# The database connection Odoo itself uses
# ----------------------------------------------------------------------
# PostgreSQL's default port, and the environment form's default too: a spec
# at this port has not said which port the environment's database is on.
DEFAULT_DB_PORT = 5432
CONNECTION_LABELS = {
    "db_host": _("database host"),
    "db_port": _("database port"),
    "db_user": _("database user"),
    "db_name": _("database name"),
}


def _configured(value):
    # Odoo writes an unset option as "False".
    return bool(value) and value not in ("False", "false")


def configured_connection(options):
    """The connection settings a configuration file gives Odoo.

    Returns ``(settings, unusable)``: ``settings`` holds those of db_host,
    db_port (an int), db_user, db_name and db_password that are set and
    valid; ``unusable`` names those set to a value that cannot be used in a
    command line (it is not given: it may be a secret).
    """
    validators = {
        "db_host": validate_hostname,
        "db_port": lambda value: validate_port(int(value)),
        "db_user": validate_username,
        "db_name": validate_database_name,
    }
    settings, unusable = {}, []
    for key, validator in validators.items():
        value = options.get(key)
        if not _configured(value):
            continue
        try:
            settings[key] = validator(value)
        except (InvalidInput, ValueError):
            unusable.append(key)
    if _configured(options.get("db_password")):
        settings["db_password"] = options["db_password"]
    return settings, unusable


def connection_spec(ctx, spec, options):
    """The spec with the database connection Odoo itself uses.

    Odoo connects with its configuration file's settings: they complete the
    spec where it is silent, and replace its port where it has only the
    default (5432), so an environment on a cluster of its own (``db_port =
    5434`` in its odoo.conf) is read there, not in another cluster's
    database of the same name. A value the spec sets otherwise is kept (a
    person set it) and a warning says it differs.

    Returns ``(spec, used, warnings)``: ``used`` names the settings taken
    from the configuration file, ``warnings`` are sentences for people
    (never a value of the password).
    """
    settings, unusable = configured_connection(options)
    changes, used = {}, []
    warnings = [
        ctx.text(
            _(
                "%(option)s in the configuration file is not a usable value: it "
                "was left out."
            ),
            option=key,
        )
        for key in unusable
    ]
    for key, label in CONNECTION_LABELS.items():
        ours, theirs = getattr(spec, key), settings.get(key)
        if theirs is None or ours == theirs:
            continue
        if not ours or (key == "db_port" and ours == DEFAULT_DB_PORT):
            changes[key] = theirs
            used.append(key)
            continue
        warnings.append(
            ctx.text(
                _(
                    "The environment's %(setting)s %(ours)s differs from the "
                    "configuration file's %(theirs)s: %(ours)s was used."
                ),
                setting=ctx.text(label),
                ours=ours,
                theirs=theirs,
            )
        )
    password = settings.get("db_password")
    if password and not spec.db_password:
        changes["db_password"] = password
        used.append("db_password")
    elif password and password != spec.db_password:
        warnings.append(
            ctx.text(
                _(
                    "The environment's database password differs from the "
                    "configuration file's: the environment's was used."
                )
            )
        )
    return replace(spec, **changes), used, warnings


def _database_spec(ctx, spec, options):
    return connection_spec(ctx, spec, options)[0]


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
        params = json.loads(result.stdout.text() or "{}")
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

    Options the target keeps as its own (:func:`own_option`: secrets
    included) are not compared: applying production's configuration leaves
    them alone, so they are no drift to correct. Should a secret option
    still be compared, its values are masked. Secret and
    environment-specific parameters (and ``exclude_parameters``) are not
    compared. A value missing on one side is None there.
    """

    def comparable_options(options):
        return {
            key: value
            for key, value in options.items()
            if not own_option(key, own_options)
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
        ctx, transport, _database_spec(ctx, spec, options), exclude=exclude
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


def merged_config_text(source, target, target_spec, own_options=()):
    """The target's new configuration file: production's ``[options]`` with
    the target's own, and the target's other sections.

    ``source`` and ``target`` are parsed files (:func:`parse_config`). In
    ``[options]`` each option the target keeps as its own
    (:func:`own_option`) takes the target's value, or is left out when the
    target does not set it; db_name, data_dir and logfile come from the
    target's spec when it sets them. The other sections are the target's, as
    they are: those an addon reads hold its settings for this environment,
    and production's may hold credentials of their own (an LDAP bind, a
    storage key). Comments are not kept (the previous file is).
    """
    source_options, target_options = options_of(source), options_of(target)
    merged = {
        key: value
        for key, value in source_options.items()
        if not own_option(key, own_options)
    }
    merged.update(
        (key, value)
        for key, value in target_options.items()
        if own_option(key, own_options)
    )
    for key, value in (
        ("db_name", target_spec.db_name),
        ("data_dir", target_spec.data_dir),
        ("logfile", target_spec.log_file),
    ):
        if value:
            merged[key] = value
    out_parser = configparser.RawConfigParser()
    out_parser.add_section("options")
    for key, value in merged.items():
        out_parser.set("options", key, value)
    for section in target.sections():
        if section != "options":
            out_parser.add_section(section)
            for key, value in target.items(section):
                out_parser.set(section, key, value)
    out = io.StringIO()
    out.write(
        "; Production's configuration with this environment's own options\n"
        "; and sections, written by deployment_manager.\n"
    )
    out_parser.write(out)
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
    """Make the target's configuration production's, but for its own options
    and sections (see :func:`merged_config_text`).

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
        source_text = read_config_text(ctx, source_transport, source_spec)
        source = parse_config(ctx, source_spec.config_path, source_text)
        source_options = options_of(source)
        source_params = read_parameters(
            ctx,
            source_transport,
            _database_spec(ctx, source_spec, source_options),
            exclude=exclude_parameters,
        )
    with ctx.step(
        ctx.text(_("Read the configuration of %(env)s"), env=target_spec.name)
    ):
        target_text = read_config_text(ctx, target_transport, target_spec)
        target = parse_config(ctx, target_spec.config_path, target_text)
        target_options = options_of(target)
        target_db_spec = _database_spec(ctx, target_spec, target_options)
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
        new_text = merged_config_text(source, target, target_spec, own_options)
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

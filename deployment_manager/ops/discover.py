"""Discover: read an Odoo environment for real, change nothing.

The configuration file comes first: it says how Odoo reaches its database
(:func:`.config_sync.connection_spec`), and the database is then read with
those settings. The database is what discovery exists to read: one that
cannot be read fails the discovery with the reason, rather than a snapshot
of an empty environment. What else cannot be read (the Odoo version, sizes,
services) goes into the notes.
"""

from dataclasses import replace

from ..remote import InvalidInput, validate_path
from .config_sync import (
    DEFAULT_DB_PORT,
    configured_connection,
    connection_spec,
    options_of,
    parse_config,
    read_config_text,
)
from .context import OperationFailed
from .i18n import _
from .odoo_config import INTERESTING_OPTIONS, split_addons_path
from .services import service_status

# The application flag and English title come last (a title may hold "|"),
# read through the row as JSON: a database whose table lacks them (or holds
# an untranslated title) is still read.
MODULES_SQL = (
    "SELECT name, COALESCE(latest_version, ''), state, "
    "CASE WHEN to_jsonb(m)->>'application' = 'true' THEN 'app' ELSE '' END, "
    "COALESCE(to_jsonb(m)->'shortdesc'->>'en_US', to_jsonb(m)->>'shortdesc', '') "
    "FROM ir_module_module m "
    "WHERE state IN ('installed', 'to upgrade', 'to remove') ORDER BY name"
)
DATABASE_SQL = (
    "SELECT pg_database_size(current_database()), current_setting('server_version')"
)


def discover(ctx, transport, spec):
    """Read an Odoo environment for real and return a snapshot (a plain dict).

    Nothing is changed on the environment. Besides what was read (version,
    modules, sizes, services, ``config``: the options discovery reports),
    the snapshot holds:

    * ``connection``: the database connection settings the configuration
      file gives (db_host, db_port as an int, db_user, db_name), and
      ``db_password_set`` when it holds a password (never its value: the
      snapshot is kept and shown);
    * ``connection_from_config``: the names of those used instead of the
      environment's own (silent, or at the default port 5432);
    * ``effective``: the settings the database was read with;
    * ``warnings``: what a person should look at (a setting that differs
      from the configuration's, no database name at all);
    * ``notes``: what could not be read, and why (warnings included).

    Raises OperationFailed when the configuration file cannot be parsed
    (Odoo would not start with it) or when the database cannot be read.
    """
    snapshot = {
        "notes": [],
        "warnings": [],
        "config": {},
        "modules": [],
        "connection": {},
        "connection_from_config": [],
    }
    notes = snapshot["notes"]

    with ctx.step(_("Read the configuration file")):
        ctx.progress(5, _("Reading the configuration file"))
        options = _read_options(ctx, transport, spec, notes)
        snapshot["config"] = {
            key: options[key] for key in INTERESTING_OPTIONS if key in options
        }

    effective, used, differences = _effective_spec(ctx, spec, options)
    settings, _unusable = configured_connection(options)
    snapshot["connection"] = {
        key: value for key, value in settings.items() if key != "db_password"
    }
    if "db_password" in settings:
        snapshot["connection"]["db_password_set"] = True
    snapshot["connection_from_config"] = used
    _warn(snapshot, differences)

    with ctx.step(_("Read the Odoo version")):
        ctx.progress(20, _("Reading the Odoo version"))
        result = ctx.run(transport, [*spec.odoo_argv, "--version"], timeout=120)
        output = result.stdout.excerpt().strip()
        if result.ok and output:
            snapshot["odoo_version"] = (
                output.splitlines()[-1].replace("Odoo Server", "").strip()
            )
        else:
            notes.append(
                ctx.text(
                    _("Odoo version unknown: %(reason)s"),
                    reason=_last_line(ctx, result),
                )
            )

    with ctx.step(_("Read the installed modules")):
        ctx.progress(35, _("Reading the installed modules from the database"))
        if effective.db_name:
            _read_database(ctx, transport, effective, used, snapshot)
        else:
            _warn(
                snapshot,
                [
                    ctx.text(
                        _("No database name is set, nor in the configuration file.")
                    )
                ],
            )

    with ctx.step(_("Measure the filestore and the backup space")):
        ctx.progress(55, _("Measuring the filestore"))
        filestore = effective.filestore_path()
        if filestore:
            result = ctx.run(
                transport, ["du", "-s", "-B1", "--", filestore], timeout=1800
            )
            if result.ok:
                snapshot["filestore_size"] = int(result.stdout.excerpt().split()[0])
            else:
                notes.append(
                    ctx.text(
                        _("Filestore %(path)s could not be measured: %(reason)s"),
                        path=filestore,
                        reason=_last_line(ctx, result),
                    )
                )
        else:
            notes.append(
                ctx.text(
                    _(
                        "The data directory is unknown: set it, "
                        "or data_dir in the configuration file."
                    )
                )
            )
        if spec.backup_dir:
            result = ctx.run(
                transport, ["df", "-B1", "--output=avail", "--", spec.backup_dir]
            )
            lines = result.stdout.excerpt().split()
            if result.ok and len(lines) >= 2 and lines[-1].isdigit():
                snapshot["backup_free"] = int(lines[-1])
            else:
                notes.append(
                    ctx.text(
                        _("Backup directory %(path)s: %(reason)s"),
                        path=spec.backup_dir,
                        reason=_last_line(ctx, result),
                    )
                )
        else:
            notes.append(ctx.text(_("No backup directory is set.")))

    with ctx.step(_("Find the custom addons paths")):
        ctx.progress(70, _("Listing the addons paths"))
        paths = split_addons_path(options.get("addons_path"))
        snapshot["custom_addons_paths"] = _custom_paths(ctx, transport, paths, notes)

    snapshot["services"] = service_status(
        ctx, transport, spec, notes=notes, start_percent=80
    )
    snapshot["effective"] = {
        "db_name": effective.db_name,
        "db_host": effective.db_host,
        "db_port": effective.db_port,
        "db_user": effective.db_user,
        "data_dir": effective.data_dir,
        "log_file": effective.log_file,
    }
    if not snapshot.get("odoo_version") and not snapshot["modules"]:
        raise OperationFailed(
            ctx.text(
                _("Nothing could be read from this environment: %(notes)s"),
                notes="; ".join(notes),
            )
        )
    return snapshot


def _read_options(ctx, transport, spec, notes):
    """The configuration file's ``[options]``; {} (and a note) when it cannot
    be read. One that cannot be parsed is an error: Odoo would not start."""
    if not spec.config_path:
        notes.append(ctx.text(_("No configuration file is set.")))
        return {}
    try:
        text = read_config_text(ctx, transport, spec)
    except OperationFailed as error:
        notes.append(str(error))
        return {}
    return options_of(parse_config(ctx, spec.config_path, text))


def _effective_spec(ctx, spec, options):
    """``(spec, used, warnings)``: the spec with the database connection Odoo
    uses (see :func:`.config_sync.connection_spec`), its data directory and
    log file completed by the configuration file where it is silent."""
    effective, used, warnings = connection_spec(ctx, spec, options)
    changes = {}
    for attribute, key in (("data_dir", "data_dir"), ("log_file", "logfile")):
        value = options.get(key)
        if getattr(spec, attribute) or not value or value in ("False", "false"):
            continue
        try:
            changes[attribute] = validate_path(value, field=key)
        except InvalidInput:
            continue
    return replace(effective, **changes), used, warnings


def _warn(snapshot, sentences):
    # Notes are what the environment keeps of a discovery: warnings are
    # there too, and apart for the summary.
    snapshot["warnings"].extend(sentences)
    snapshot["notes"].extend(sentences)


def _read_database(ctx, transport, spec, used, snapshot):
    """Size, PostgreSQL version and installed modules into the snapshot;
    OperationFailed when the database cannot be read."""
    kwargs = {"env": spec.db_env(), "secrets": spec.db_secrets(), "timeout": 120}
    result = ctx.run(transport, spec.psql_argv(DATABASE_SQL), **kwargs)
    if not (result.ok and "|" in result.stdout.excerpt()):
        raise _unreadable(ctx, spec, used, result)
    size, version = result.stdout.excerpt().strip().split("|", 1)
    snapshot["database_size"] = int(size)
    snapshot["postgres_version"] = version.strip()
    result = ctx.run(transport, spec.psql_argv(MODULES_SQL), **kwargs)
    if not result.ok:
        raise _unreadable(ctx, spec, used, result)
    for line in result.stdout.text().splitlines():
        parts = line.split("|", 4)
        if len(parts) == 5:
            name, version, state, application, title = parts
            snapshot["modules"].append(
                {
                    "name": name,
                    "version": version,
                    "state": state,
                    "application": application == "app",
                    "title": title,
                }
            )
    if not snapshot["modules"]:
        _warn(
            snapshot,
            [ctx.text(_("Database %(db)s has no installed module."), db=spec.db_name)],
        )


def _unreadable(ctx, spec, used, result):
    """The database could not be read: say with which settings, and why."""
    connection = ctx.text(
        _("host %(host)s, port %(port)s"),
        host=spec.db_host or ctx.text(_("local socket")),
        port=spec.db_port or DEFAULT_DB_PORT,
    )
    if spec.db_user:
        connection += ", " + ctx.text(_("user %(user)s"), user=spec.db_user)
    if used:
        connection += " " + ctx.text(
            _("(%(settings)s from the configuration file)"),
            settings=", ".join(used),
        )
    return OperationFailed(
        ctx.text(
            _("Database %(db)s could not be read (%(connection)s): %(reason)s"),
            db=spec.db_name,
            connection=connection,
            reason=_last_line(ctx, result),
        )
    )


def _custom_paths(ctx, transport, paths, notes):
    """The addons paths that are not Odoo's own (those hold the 'web' module)."""
    custom = []
    for path in paths:
        try:
            validate_path(path, field="addons path")
        except InvalidInput as error:
            notes.append(str(error))
            continue
        result = ctx.run(transport, ["ls", "-1", "--", path])
        if not result.ok:
            notes.append(
                ctx.text(
                    _("Addons path %(path)s could not be listed: %(reason)s"),
                    path=path,
                    reason=_last_line(ctx, result),
                )
            )
            continue
        if "web" not in result.stdout.excerpt().split():
            custom.append(path)
    return custom


def _last_line(ctx, result):
    """Why a command failed, in a few words: its last line of error output."""
    if result.timed_out:
        return ctx.text(
            _("timed out after %(seconds)s s"), seconds=round(result.duration)
        )
    text = (result.stderr.excerpt() or result.stdout.excerpt()).strip()
    last = text.splitlines()[-1] if text else ""
    return ctx.text(_("exit code %(code)s"), code=result.exit_code) + (
        f": {last}" if last else ""
    )

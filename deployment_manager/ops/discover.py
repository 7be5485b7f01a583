from .context import OperationFailed
from .i18n import _
from .odoo_config import INTERESTING_OPTIONS, parse_odoo_config, split_addons_path
from .services import service_status

MODULES_SQL = (
    "SELECT name, COALESCE(latest_version, ''), state FROM ir_module_module "
    "WHERE state IN ('installed', 'to upgrade', 'to remove') ORDER BY name"
)
DATABASE_SQL = (
    "SELECT pg_database_size(current_database()), current_setting('server_version')"
)
# Options whose values are secrets: read to connect, never reported.
SECRET_OPTIONS = ("admin_passwd", "db_password", "smtp_password")


def discover(ctx, transport, spec):
    """Read an Odoo environment for real and return a snapshot (a plain dict).

    Nothing is changed on the environment. What cannot be read goes into
    ``snapshot["notes"]`` with the reason, so the snapshot is as complete as
    the environment allows.
    """
    snapshot = {"notes": [], "config": {}, "modules": []}
    notes = snapshot["notes"]
    db_password = spec.db_password

    with ctx.step(_("Read the configuration file")):
        ctx.progress(5, _("Reading the configuration file"))
        if spec.config_path:
            # The file holds passwords: its content is never journaled.
            result = ctx.run(
                transport, ["cat", "--", spec.config_path], keep_output=False
            )
            if result.ok:
                options = parse_odoo_config(
                    result.stdout.full_bytes().decode("utf-8", "replace")
                )
                db_password = db_password or options.get("db_password") or None
                snapshot["config"] = {
                    key: options[key] for key in INTERESTING_OPTIONS if key in options
                }
            else:
                notes.append(
                    ctx.text(
                        _("Configuration file %(path)s could not be read: %(reason)s"),
                        path=spec.config_path,
                        reason=_last_line(ctx, result),
                    )
                )
        else:
            notes.append(ctx.text(_("No configuration file is set.")))

    config = snapshot["config"]
    effective = _effective_spec(spec, config, db_password)

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
            secrets = [db_password] if db_password else []
            result = ctx.run(
                transport,
                effective.psql_argv(DATABASE_SQL),
                env=effective.db_env(),
                secrets=secrets,
                timeout=120,
            )
            if result.ok and "|" in result.stdout.excerpt():
                size, version = result.stdout.excerpt().strip().split("|", 1)
                snapshot["database_size"] = int(size)
                snapshot["postgres_version"] = version.strip()
            else:
                notes.append(
                    ctx.text(
                        _("Database %(db)s could not be read: %(reason)s"),
                        db=effective.db_name,
                        reason=_last_line(ctx, result),
                    )
                )
            result = ctx.run(
                transport,
                effective.psql_argv(MODULES_SQL),
                env=effective.db_env(),
                secrets=secrets,
                timeout=120,
            )
            if result.ok:
                for line in (
                    result.stdout.full_bytes().decode("utf-8", "replace").splitlines()
                ):
                    if line.count("|") == 2:
                        name, version, state = line.split("|")
                        snapshot["modules"].append(
                            {"name": name, "version": version, "state": state}
                        )
        else:
            notes.append(
                ctx.text(_("No database name is set, nor in the configuration file."))
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
        paths = split_addons_path(config.get("addons_path"))
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


def _effective_spec(spec, config, db_password):
    """The spec completed with the configuration file's values where it is silent."""
    from dataclasses import replace

    from ..remote import (
        InvalidInput,
        validate_database_name,
        validate_hostname,
        validate_path,
        validate_username,
    )

    def pick(current, key, validator):
        if current or not config.get(key) or config[key] in ("False", "false"):
            return current
        try:
            return validator(config[key])
        except InvalidInput:
            return current

    port = spec.db_port
    if not port and str(config.get("db_port", "")).isdigit():
        port = int(config["db_port"])
    return replace(
        spec,
        db_name=pick(spec.db_name, "db_name", validate_database_name),
        db_host=pick(spec.db_host, "db_host", validate_hostname),
        db_user=pick(spec.db_user, "db_user", validate_username),
        db_port=port,
        db_password=db_password,
        data_dir=pick(spec.data_dir, "data_dir", validate_path),
        log_file=pick(spec.log_file, "logfile", validate_path),
    )


def _custom_paths(ctx, transport, paths, notes):
    """The addons paths that are not Odoo's own (those hold the 'web' module)."""
    from ..remote import InvalidInput, validate_path

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

"""Neutralize a replica (issue 4, operation 2).

Odoo's own neutralization (``odoo neutralize``: every installed module's
``data/neutralize.sql``), then the environment's own rules, then a
verification by queries of what Odoo 18's ``neutralize.sql`` files do:

* base: every mail server inactive and one inserted, active, named
  ``neutralization - disable emails`` on host ``invalid``; every cron
  inactive but ``base.autovacuum_job``; ``database.is_neutralized`` true;
* mail: fetchmail servers inactive;
* payment: providers ``disabled`` unless in ``test``;

and one rule of ours: the mail production had queued (outgoing, or waiting
for a retry) is cancelled in the replica. Odoo leaves it queued: it would
leave the replica the day someone configures a working mail server there.

A replica that fails the verification is never handed over: the operation
raises :class:`NeutralizationFailed`, its ``report`` holding the checks.
"""

from .common import SHORT_TIMEOUT, checked_database, why
from .context import OperationFailed
from .i18n import _

NEUTRALIZATION_SERVER = "neutralization - disable emails"
TABLES_SQL = (
    "SELECT coalesce(to_regclass('payment_provider')::text, '') || '|' "
    "|| coalesce(to_regclass('fetchmail_server')::text, '') || '|' "
    "|| coalesce(to_regclass('mail_mail')::text, '')"
)
# Production's queued mail, cancelled in the replica (a constant of ours).
CANCEL_QUEUED_MAIL_SQL = (
    "DO $$ BEGIN IF to_regclass('mail_mail') IS NOT NULL THEN "
    "UPDATE mail_mail SET state = 'cancel' "
    "WHERE state IN ('outgoing', 'exception'); END IF; END $$"
)
# Each query gives one line: count|detail. Nothing in them comes from outside.
CHECKS = {
    "is_neutralized": (
        "SELECT CASE WHEN value = 'true' THEN 0 ELSE 1 END || '|' "
        "|| coalesce(value, '') FROM (SELECT (SELECT value FROM "
        "ir_config_parameter WHERE key = 'database.is_neutralized') AS value) v"
    ),
    "mail_servers": (
        "SELECT count(*) || '|' || coalesce(string_agg(name || ' (' "
        "|| coalesce(smtp_host, '') || ')', ', ' ORDER BY id), '') "
        "FROM ir_mail_server WHERE active AND NOT (name = "
        f"'{NEUTRALIZATION_SERVER}' AND smtp_host = 'invalid')"
    ),
    "neutralization_mail_server": (
        "SELECT CASE WHEN count(*) > 0 THEN 0 ELSE 1 END || '|' || count(*) "
        "FROM ir_mail_server WHERE active AND name = "
        f"'{NEUTRALIZATION_SERVER}' AND smtp_host = 'invalid'"
    ),
    "crons": (
        "SELECT count(*) || '|' || coalesce(string_agg(cron_name, ', ' "
        "ORDER BY id), '') FROM ir_cron WHERE active AND id NOT IN ("
        "SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' "
        "AND module = 'base' AND name = 'autovacuum_job')"
    ),
    "payment_providers": (
        "SELECT count(*) || '|' || coalesce(string_agg(code, ', ' ORDER BY id), "
        "'') FROM payment_provider WHERE state = 'enabled'"
    ),
    "fetchmail_servers": (
        "SELECT count(*) || '|' || coalesce(string_agg(name, ', ' ORDER BY id), "
        "'') FROM fetchmail_server WHERE active"
    ),
    "queued_mail": (
        "SELECT count(*) || '|' || count(*) FROM mail_mail "
        "WHERE state IN ('outgoing', 'exception')"
    ),
}
CHECK_LABELS = {
    "is_neutralized": _("database.is_neutralized is true"),
    "mail_servers": _("No active outgoing mail server but the neutralization one"),
    "neutralization_mail_server": _("The neutralization mail server is active"),
    "crons": _("No active scheduled action but the autovacuum"),
    "payment_providers": _("No payment provider enabled (live)"),
    "fetchmail_servers": _("No active incoming mail server"),
    "queued_mail": _("No mail left queued to be sent"),
}


class NeutralizationFailed(OperationFailed):
    """The replica is not neutralized; ``report`` holds the checks."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def neutralize(ctx, transport, spec, *, database=None, extra_sql=(), span=(0, 100)):
    """Neutralize ``database`` (the environment's by default) and verify it.

    ``extra_sql`` are the environment's own rules, SQL statements written by
    its administrator, run after Odoo's neutralization in one transaction.
    ``span`` is the part of the operation's progress (percent) it reports in,
    when it is one step of a larger operation.

    Returns ``{"ok": True, "database", "checks": [{"name", "label", "ok",
    "detail"}]}``; raises NeutralizationFailed (its ``report`` the same
    dict with ``ok`` false) when a check fails.
    """
    db = checked_database(ctx, database or spec.db_name)
    low, high = span

    def progress(percent, message):
        ctx.progress(low + (high - low) * percent // 100, message)

    with ctx.step(_("Run Odoo's neutralization")):
        progress(10, _("Running Odoo's neutralization"))
        _odoo_neutralize(ctx, transport, spec, db)
    with ctx.step(_("Cancel the mail production had queued")):
        _run_rules(ctx, transport, spec, db, [CANCEL_QUEUED_MAIL_SQL])
    rules = [_statement(sql) for sql in extra_sql or ()]
    rules = [sql for sql in rules if sql]
    if rules:
        with ctx.step(_("Apply the environment's neutralization rules")):
            progress(60, _("Applying the environment's neutralization rules"))
            _run_rules(ctx, transport, spec, db, rules)
    with ctx.step(_("Verify the neutralization")):
        progress(80, _("Verifying the neutralization"))
        report = verify_neutralization(ctx, transport, spec, database=db)
    report["rules_applied"] = len(rules)
    if not report["ok"]:
        failed = [c for c in report["checks"] if not c["ok"]]
        raise NeutralizationFailed(
            ctx.text(
                _(
                    "The database %(db)s is not neutralized and must not be "
                    "used: %(failed)s"
                ),
                db=db,
                failed="; ".join(
                    "%s (%s)" % (ctx.text(c["label"]), c["detail"]) for c in failed
                ),
            ),
            report,
        )
    progress(100, _("Neutralized"))
    return report


def neutralize_argv(spec, db):
    """``odoo neutralize`` on ``db`` with the environment's connection options.

    The password is never on the command line: it reaches libpq through
    ``PGPASSWORD`` (see ``spec.db_env()``) or comes from the config file.
    """
    argv = [*spec.odoo_argv, "neutralize"]
    if spec.config_path:
        argv += ["-c", spec.config_path]
    if spec.db_host:
        argv.append(f"--db_host={spec.db_host}")
    if spec.db_port:
        argv.append(f"--db_port={spec.db_port}")
    if spec.db_user:
        argv.append(f"--db_user={spec.db_user}")
    return [*argv, "-d", db]


def _odoo_neutralize(ctx, transport, spec, db):
    result = ctx.run(
        transport,
        neutralize_argv(spec, db),
        timeout=SHORT_TIMEOUT * 3,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )
    if not result.ok:
        raise OperationFailed(
            ctx.text(
                _("Odoo's neutralization of %(db)s failed: %(reason)s"),
                db=db,
                reason=why(ctx, result),
            )
        )


def _statement(sql):
    text = (sql or "").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _psql_argv(spec, db, *extra):
    return [
        "psql",
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        *extra,
        *spec.pg_connection_args(),
        "-d",
        db,
        "-f",
        "-",
    ]


def _run_rules(ctx, transport, spec, db, rules):
    script = "".join(f"{sql};\n" for sql in rules)
    result = ctx.run(
        transport,
        _psql_argv(spec, db, "--single-transaction"),
        stdin_data=script.encode(),
        timeout=SHORT_TIMEOUT,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )
    if not result.ok:
        raise OperationFailed(
            ctx.text(
                _(
                    "The environment's neutralization rules failed on %(db)s "
                    "(none of them was applied): %(reason)s"
                ),
                db=db,
                reason=why(ctx, result),
            )
        )


def verify_neutralization(ctx, transport, spec, *, database=None):
    """The checks of a neutralized database: ``{"ok", "database", "checks"}``.

    Tables of modules that are not installed are not checked.
    """
    db = checked_database(ctx, database or spec.db_name)
    tables = _query(ctx, transport, spec, db, [TABLES_SQL])[0].split("|")
    names = ["is_neutralized", "neutralization_mail_server", "mail_servers", "crons"]
    if tables[0]:
        names.append("payment_providers")
    if len(tables) > 1 and tables[1]:
        names.append("fetchmail_servers")
    if len(tables) > 2 and tables[2]:
        names.append("queued_mail")
    lines = _query(ctx, transport, spec, db, [CHECKS[name] for name in names])
    checks = []
    for name, line in zip(names, lines, strict=True):
        count, _sep, detail = line.partition("|")
        checks.append(
            {
                "name": name,
                "label": CHECK_LABELS[name],
                "ok": count.strip() == "0",
                "detail": detail.strip()[:500],
            }
        )
    return {"ok": all(c["ok"] for c in checks), "database": db, "checks": checks}


def _query(ctx, transport, spec, db, queries):
    """One output line per query (each returns exactly one row)."""
    script = "".join(f"{sql};\n" for sql in queries)
    result = ctx.run(
        transport,
        _psql_argv(spec, db),
        stdin_data=script.encode(),
        timeout=SHORT_TIMEOUT,
        env=spec.db_env(),
        secrets=spec.db_secrets(),
    )
    if not result.ok:
        raise OperationFailed(
            ctx.text(
                _("The neutralization of %(db)s cannot be verified: %(reason)s"),
                db=db,
                reason=why(ctx, result),
            )
        )
    lines = result.stdout.text().splitlines()
    if len(lines) != len(queries):
        raise OperationFailed(
            ctx.text(
                _("The neutralization of %(db)s cannot be verified: %(reason)s"),
                db=db,
                reason=result.stdout_text[-300:],
            )
        )
    return lines

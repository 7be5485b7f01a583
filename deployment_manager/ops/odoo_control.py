"""Driving the environment's Odoo (BRIEF J4; issue 3, operations 4 and 5).

* :func:`stop_odoo`, :func:`start_odoo`, :func:`restart_postgres`,
  :func:`wait_healthy` drive the services with the environment's commands;
* :func:`install_upgrade` runs ``odoo -i/-u --stop-after-init`` detached and
  judges it by exit code, by its own log and by the module states it left.
"""

import time
import urllib.error
import urllib.parse
import urllib.request

from ..remote import RemoteError
from .common import checked_database, checked_path, why
from .context import OperationFailed
from .deploy_base import (
    EXCERPT_CHARS,
    GATE_CLOSED,
    GATE_POLLS_FAST,
    HEALTH_POLL,
    HEALTH_TIMEOUT,
    HTTP_TIMEOUT,
    INSTALL_GATE_SH,
    INSTALL_TIMEOUT,
    MAX_ERRORS,
    MAX_LOG_BYTES,
    PENDING_STATES,
    SERVICE_TIMEOUT,
    WAIT_PG_SH,
    InstallFailed,
    _detached,
    _fail,
    _module_states,
    _modules,
    _run,
    _sleep,
    _stamp,
    _work_dir,
    prepare_work_dir,
)
from .i18n import _
from .logcheck import LEVELS, parse_records


# ----------------------------------------------------------------------
# Services and health
# ----------------------------------------------------------------------
def _service(ctx, transport, argv, key, missing, failed, timeout=SERVICE_TIMEOUT):
    if not argv:
        raise OperationFailed(ctx.text(missing))
    status = _detached(ctx, transport, argv, key, timeout)
    if not status.ok:
        raise _fail(ctx, failed, status)
    return status


def _stop_odoo(ctx, transport, spec, key="odoo-stop"):
    return _service(
        ctx,
        transport,
        spec.odoo_stop_argv,
        key,
        _("No command to stop Odoo is set."),
        _("Odoo could not be stopped: %(reason)s"),
    )


def _start_odoo(ctx, transport, spec, key="odoo-start"):
    return _service(
        ctx,
        transport,
        spec.odoo_start_argv,
        key,
        _("No command to start Odoo is set."),
        _("Odoo could not be started: %(reason)s"),
    )


def _restart_postgres(ctx, transport, spec, key="postgresql-restart"):
    failed = _("PostgreSQL could not be restarted: %(reason)s")
    missing = _("No command to restart PostgreSQL is set.")
    if spec.pg_restart_argv or not (spec.pg_stop_argv and spec.pg_start_argv):
        return _service(ctx, transport, spec.pg_restart_argv, key, missing, failed)
    _service(ctx, transport, spec.pg_stop_argv, key + "-stop", missing, failed)
    return _service(ctx, transport, spec.pg_start_argv, key + "-start", missing, failed)


def stop_odoo(ctx, transport, spec, *, key="odoo-stop"):
    """Stop Odoo with the environment's command (detached, key ``key``)."""
    with ctx.step(_("Stop Odoo")):
        ctx.progress(10, _("Stopping Odoo"))
        _stop_odoo(ctx, transport, spec, key)


def start_odoo(ctx, transport, spec, *, key="odoo-start"):
    """Start Odoo with the environment's command; see :func:`wait_healthy`."""
    with ctx.step(_("Start Odoo")):
        ctx.progress(10, _("Starting Odoo"))
        _start_odoo(ctx, transport, spec, key)


def restart_postgres(ctx, transport, spec, *, key="postgresql-restart"):
    """Restart PostgreSQL with the environment's restart command (or its stop
    then start commands). It cuts every connection to that cluster: the
    manager's own too when they share it."""
    with ctx.step(_("Restart PostgreSQL")):
        ctx.progress(10, _("Restarting PostgreSQL"))
        _restart_postgres(ctx, transport, spec, key)


def check_health_url(ctx, url):
    parsed = urllib.parse.urlsplit(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise _fail(ctx, _("Invalid health URL %(url)r."), url=url)
    return url


def _http_status(url):
    """(ok, what was seen) for one GET of the URL from the manager.

    A proxy of the manager's environment is used, except for a loopback
    address (a single-server setup): no proxy would reach that one.
    """
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    else:
        opener = urllib.request.build_opener()
    try:
        with opener.open(url, timeout=HTTP_TIMEOUT) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return False, str(getattr(error, "reason", error))


# The health URL is fetched every QUICK_HEALTH_POLL seconds for the first
# QUICK_HEALTH_SECONDS, then every HEALTH_POLL: Odoo usually answers within
# a second or two of its start, and every poll wait then is downtime; one
# that takes long is not worth a fetch every tenth of a second.
QUICK_HEALTH_POLL = 0.1
QUICK_HEALTH_SECONDS = 10


def _wait_healthy(ctx, transport, spec, timeout=HEALTH_TIMEOUT):
    started = time.monotonic()
    deadline = started + timeout
    argv = [
        "sh",
        "-c",
        WAIT_PG_SH,
        "sh",
        str(max(1, int(timeout))),
        *spec.pg_connection_args(),
    ]
    result = _run(ctx, transport, argv, timeout=timeout + 60, env=spec.db_env())
    if not result.ok:
        raise _fail(
            ctx,
            _("PostgreSQL did not accept connections within %(seconds)s s: %(reason)s"),
            result,
            seconds=int(timeout),
        )
    if not spec.health_url:
        raise OperationFailed(ctx.text(_("No health URL is set.")))
    url = check_health_url(ctx, spec.health_url)
    attempts = 0
    while True:
        attempts += 1
        ok, seen = _http_status(url)
        if ok:
            return {"url": url, "attempts": attempts, "status": seen}
        if time.monotonic() >= deadline:
            raise _fail(
                ctx,
                _(
                    "Odoo did not answer %(url)s with HTTP 200 within %(seconds)s s "
                    "(last: %(last)s)."
                ),
                url=url,
                seconds=int(timeout),
                last=seen,
            )
        quick = time.monotonic() - started < QUICK_HEALTH_SECONDS
        _sleep(ctx, QUICK_HEALTH_POLL if quick else HEALTH_POLL)


def wait_healthy(ctx, transport, spec, timeout=HEALTH_TIMEOUT):
    """Wait for ``pg_isready`` (with the spec's host and port), then for the
    health URL to answer HTTP 200, fetched from the manager; both within
    ``timeout`` seconds. Returns {"url", "attempts", "status"}."""
    with ctx.step(_("Wait for health")):
        ctx.progress(10, _("Waiting for PostgreSQL and Odoo's health URL"))
        return _wait_healthy(ctx, transport, spec, timeout)


# ----------------------------------------------------------------------
# Install / upgrade
# ----------------------------------------------------------------------
def install_upgrade(
    ctx,
    transport,
    spec,
    install=(),
    upgrade=(),
    *,
    expected_versions=None,
    key="install-upgrade",
    stamp=None,
    timeout=INSTALL_TIMEOUT,
):
    """``odoo -c … -d … -i … -u … --stop-after-init --no-http``, Odoo's
    service being stopped by the caller.

    It runs detached (``key``), logging to a file of its own in the work
    directory. It failed when its exit code is not 0, when that log holds
    ERROR or CRITICAL records or tracebacks, when a module is left "to
    install", "to upgrade" or "to remove", when a requested module is not
    installed afterwards, or when one's version differs from
    ``expected_versions``. Returns ``{"ok", "versions": {module: version
    read from the database}, "errors", "log_excerpt", "log_file",
    "exit_code", "pending"}``; raises :class:`InstallFailed` (carrying that
    result) on failure.
    """
    with ctx.step(_("Install and upgrade the modules")):
        ctx.progress(10, _("Running Odoo to install and upgrade the modules"))
        return _install_upgrade(
            ctx,
            transport,
            spec,
            install,
            upgrade,
            expected_versions=expected_versions,
            key=key,
            stamp=_stamp(ctx, stamp),
            timeout=timeout,
        )


def _install_files(ctx, spec, key, stamp):
    """(database, configuration file, work directory, log file) of an install."""
    db = checked_database(ctx, spec.db_name)
    if not spec.config_path:
        raise OperationFailed(ctx.text(_("No configuration file is set.")))
    config = checked_path(spec.config_path, "configuration file")
    work_dir = _work_dir(ctx, spec)
    return db, config, work_dir, f"{work_dir}/{key}-{db}-{stamp}.log"


def _install_argv(spec, db, config, install, upgrade, log_file):
    argv = [*spec.odoo_argv, "-c", config, "-d", db]
    if install:
        argv += ["-i", ",".join(install)]
    if upgrade:
        argv += ["-u", ",".join(upgrade)]
    return [
        *argv,
        "--stop-after-init",
        "--no-http",
        "--max-cron-threads=0",
        "--logfile",
        log_file,
    ]


def gated_install(ctx, spec, install, upgrade, *, key, stamp, wait):
    """An install to start before its rollback point exists, held before it
    reads its configuration (INSTALL_GATE_SH): Odoo's imports then run while
    Odoo stops and the point is taken. Nothing reaches the database before
    the file ``gate["go"]`` exists; ``gate["stop"]`` (or ``wait`` seconds
    without either) ends it unread. Returns the gate (JSON-able, for the
    run's state; start it with :func:`launch_gated_install`), or None when
    there is nothing to install."""
    install, upgrade = _modules(ctx, install), _modules(ctx, upgrade)
    if not install and not upgrade:
        return None
    db, config, work_dir, log_file = _install_files(ctx, spec, key, stamp)
    base = f"{work_dir}/{key}-{db}-{stamp}"
    pipe, go, stop = f"{base}.conf", f"{base}.go", f"{base}.stop"
    polls = GATE_POLLS_FAST + max(0, int(wait) - GATE_POLLS_FAST // 50) * 2
    argv = [
        "sh",
        "-c",
        INSTALL_GATE_SH,
        "sh",
        pipe,
        config,
        go,
        stop,
        str(polls),
        log_file,
        *_install_argv(spec, db, pipe, install, upgrade, log_file),
    ]
    return {
        "key": key,
        "argv": argv,
        "work_dir": work_dir,
        "log_file": log_file,
        "pipe": pipe,
        "go": go,
        "stop": stop,
    }


def launch_gated_install(ctx, transport, spec, gate):
    """Start the install of :func:`gated_install` and return at once."""
    prepare_work_dir(ctx, transport, gate["work_dir"])
    try:
        ctx.launch_detached(
            transport,
            gate["argv"],
            gate["key"],
            env=spec.db_env(),
            secrets=spec.db_secrets(),
        )
    except RemoteError as error:
        raise OperationFailed(str(error)) from error


def gate_closed(status):
    """Whether an install started ahead ended without reading its
    configuration: it never reached the database."""
    return (
        status.state == "done"
        and status.exit_code == 97
        and GATE_CLOSED in (status.stdout_excerpt or "").splitlines()
    )


def _install_upgrade(
    ctx,
    transport,
    spec,
    install,
    upgrade,
    *,
    expected_versions,
    key,
    stamp,
    timeout,
    gate=None,
):
    install, upgrade = _modules(ctx, install), _modules(ctx, upgrade)
    db, config, work_dir, log_file = _install_files(ctx, spec, key, stamp)
    result = {
        "ok": True,
        "install": install,
        "upgrade": upgrade,
        "versions": {},
        "errors": [],
        "pending": {},
        "log_file": log_file,
        "log_excerpt": "",
        "exit_code": None,
    }
    if not install and not upgrade:
        return result
    status = None
    if gate:
        # Started ahead, its gate opened with the rollback point: waited for.
        status = _detached(ctx, transport, gate["argv"], gate["key"], timeout, spec)
        if gate_closed(status):
            # It never ran (Odoo ended before its gate opened: a stop that
            # ends every Odoo, say): run it now. The gate, opened after it
            # ended, is removed.
            status = None
            _run(ctx, transport, ["rm", "-f", "--", gate["go"], gate["stop"]])
        else:
            result["log_file"] = log_file = gate["log_file"]
    if status is None:
        prepare_work_dir(ctx, transport, work_dir)
        argv = _install_argv(spec, db, config, install, upgrade, log_file)
        status = _detached(ctx, transport, argv, key, timeout, spec)
    result["exit_code"] = status.exit_code
    reasons = []
    if not status.ok:
        reasons.append(why(ctx, status))
    _judge_install_log(ctx, transport, log_file, status, result, reasons)
    _judge_module_states(
        ctx, transport, spec, install + upgrade, expected_versions, result, reasons
    )
    if reasons:
        result["ok"] = False
        raise InstallFailed(
            ctx.text(
                _("Installing / upgrading %(modules)s failed: %(reasons)s"),
                modules=", ".join(install + upgrade),
                reasons="; ".join(reasons),
            ),
            result,
        )
    return result


def _judge_install_log(ctx, transport, log_file, status, result, reasons):
    read = ctx.run(
        transport,
        ["cat", "--", log_file],
        keep_output=False,
        timeout=600,
        capture_limits={
            "head_limit": 65536,
            "tail_limit": 65536,
            "spool_limit": MAX_LOG_BYTES,
        },
    )
    if not read.ok:
        reasons.append(ctx.text(_("its log %(path)s cannot be read"), path=log_file))
        result["log_excerpt"] = (status.stderr_excerpt or "")[-EXCERPT_CHARS:]
        return
    text = read.stdout.text()
    bad = [
        record
        for record in parse_records(text)
        if LEVELS.get(record.level, 0) >= LEVELS["ERROR"] or record.traceback
    ]
    for record in bad[:MAX_ERRORS]:
        first = record.message.split("\n", 1)[0][:300]
        cause = exception_summary(record.traceback) if record.traceback else ""
        result["errors"].append(
            f"{record.level} {record.logger}: {first}"
            + (f" ({cause})" if cause else "")
        )
    if bad:
        # The records with a traceback say why; the others that it failed.
        telling = [
            error
            for record, error in zip(bad, result["errors"], strict=False)
            if record.traceback
        ] or result["errors"]
        reasons.append(
            ctx.text(
                _(
                    "%(count)s ERROR / CRITICAL records or tracebacks in its log: "
                    "%(first)s"
                ),
                count=len(bad),
                first=" / ".join(telling[:2]),
            )
        )
        excerpt = "\n".join(
            record.message + ("\n" + record.traceback if record.traceback else "")
            for record in bad[:5]
        )
    else:
        excerpt = text
    stderr = status.stderr_excerpt or ""
    if not status.ok and stderr.strip():
        excerpt += "\n" + stderr
    result["log_excerpt"] = excerpt[-EXCERPT_CHARS:]


_CHAIN_SEPARATORS = (
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
)


def exception_summary(traceback, limit=400):
    """The exception line of a Python traceback, with the exception it was
    raised from (``raise … from``) when there is one: Odoo wraps the real
    cause of a data file's failure in a ParseError."""
    sections = [[None, None]]  # [separator before it, its exception line]
    after_frame = False
    for line in traceback.splitlines():
        stripped = line.strip()
        if stripped in _CHAIN_SEPARATORS:
            sections.append([stripped, None])
            after_frame = False
            continue
        if line[:1] in (" ", "\t"):
            after_frame = True
            continue
        if after_frame and stripped and sections[-1][1] is None:
            sections[-1][1] = stripped
        after_frame = False
    lines = [line for _separator, line in sections]
    if not lines[-1]:
        return ""
    summary = lines[-1]
    if len(sections) > 1 and sections[-1][0] == _CHAIN_SEPARATORS[0] and lines[-2]:
        summary = f"{lines[-2]}; raised as {summary}"
    return summary[:limit]


def _judge_module_states(ctx, transport, spec, requested, expected, result, reasons):
    try:
        states = _module_states(ctx, transport, spec)
    except OperationFailed as error:
        reasons.append(str(error))
        return
    pending = {
        name: state for name, (state, _v) in states.items() if state in PENDING_STATES
    }
    result["pending"] = pending
    if pending:
        reasons.append(
            ctx.text(
                _("modules left half-done: %(modules)s"),
                modules=", ".join(
                    f"{name} ({state})" for name, state in sorted(pending.items())
                ),
            )
        )
    missing = [name for name in requested if states.get(name, ("",))[0] != "installed"]
    if missing:
        reasons.append(
            ctx.text(
                _("not installed afterwards: %(modules)s"),
                modules=", ".join(
                    f"{name} ({states.get(name, (_('unknown'),))[0]})"
                    for name in missing
                ),
            )
        )
    for name in requested:
        if name in states:
            result["versions"][name] = states[name][1]
    for name, version in (expected or {}).items():
        got = result["versions"].get(name)
        if name in requested and version and got and got != version:
            reasons.append(
                ctx.text(
                    _("%(module)s is at version %(got)s, not %(expected)s"),
                    module=name,
                    got=got,
                    expected=version,
                )
            )

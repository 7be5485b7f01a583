"""Deployment day (BRIEF J3, J4; issue 3, operation 7): the run.

:func:`deployment_run` chains the deployment day: precheck of the addons
(staged beside the addons path, see :mod:`.sources`), backup, stop, the new
sources moved in, rollback point (:mod:`.rollback`), install / upgrade,
restarts and health (:mod:`.odoo_control`), log check. A failure after the
stop rolls back (or, if told not to, raises :class:`RollbackAvailable` so a
person decides), and :func:`resume_deployment` takes a run up again from
its saved state: after the manager restarted, or on a person's retry /
ignore / roll back.

This module is also where callers find the whole deployment-day interface
(``__all__``); what the parts share is in :mod:`.deploy_base`.
"""

import contextlib
import copy
import time

from ..remote import RemoteError
from .common import run_anyway
from .context import OperationFailed
from .deploy_base import (
    COPY_TIMEOUT,
    HEALTH_TIMEOUT,
    INSTALL_TIMEOUT,
    SERVICE_TIMEOUT,
    AddonsRefused,
    DeploymentFailed,
    InstallFailed,
    RollbackAvailable,
    _call,
    _detached,
    _fail,
    _modules,
    _rollback_point_space,
    _run,
    _stamp,
    effective_spec,
)
from .i18n import _
from .odoo_control import (
    _install_upgrade,
    _restart_postgres,
    _start_odoo,
    _stop_odoo,
    _wait_healthy,
    check_health_url,
    exception_summary,
    gate_closed,
    gated_install,
    install_upgrade,
    launch_gated_install,
    restart_postgres,
    start_odoo,
    stop_odoo,
    wait_healthy,
)
from .rollback import (
    _rollback_point,
    drop_rollback_point,
    rollback,
    rollback_point,
)
from .sources import (
    _apply_git,
    _apply_zip,
    _discard_incoming,
    _prepare_git,
    _prepare_zip,
    _undeploy,
    check_addons,
    deploy_git,
    deploy_zip,
    undeploy,
    validate_ref,
    validate_repo_url,
)

# ----------------------------------------------------------------------
# The deployment run
# ----------------------------------------------------------------------
# The sources are staged and checked in the precheck and moved in only once
# Odoo is stopped: a worker recycled before the stop (workers are, after
# limit_request or limit_memory_soft) would load the new code on the old
# schema. Their move is a few renames, so the downtime hardly grows; it
# comes before the rollback point as it does not touch the database.
BEFORE_STOP = ("precheck", "backup")
AFTER_STOP = (
    "stop",
    "deploy",
    "rollback_point",
    "install",
    "restart_database",
    "start",
    "health",
    "log_check",
)
# Steps that fail before the database is touched: the sources are put back
# and Odoo started again, no rollback point is needed.
BEFORE_POINT = ("stop", "deploy", "rollback_point")
# Steps after Odoo answered its health check: users may have written since.
SERVED_AGAIN = ("log_check",)
# Rows inserted, updated and deleted per table since the statistics were last
# reset (PostgreSQL's restart on deployment day resets them).
TABLE_WRITES_SQL = (
    "SELECT relname || '|' || (n_tup_ins + n_tup_upd + n_tup_del) "
    "FROM pg_stat_user_tables"
)
LABELS = {
    "precheck": _("Precheck: addons, commands and free space"),
    "backup": _("Back up before deploying"),
    "deploy": _("Deploy the sources"),
    "stop": _("Stop Odoo"),
    "rollback_point": _("Take the rollback point"),
    "install": _("Install and upgrade the modules"),
    "restart_database": _("Restart PostgreSQL"),
    "start": _("Start Odoo"),
    "health": _("Wait for health"),
    "log_check": _("Check the log"),
}
PERCENT = {
    "precheck": 2,
    "backup": 10,
    "stop": 35,
    "deploy": 40,
    "rollback_point": 45,
    "install": 50,
    "restart_database": 75,
    "start": 80,
    "health": 85,
    "log_check": 92,
}
ACTIONS = ("continue", "retry", "ignore", "rollback")


def deployment_run(
    ctx,
    transport,
    spec,
    *,
    source,
    install=(),
    upgrade=(),
    backup=None,
    log_check=None,
    auto_rollback=True,
    restart_database=True,
    health_timeout=HEALTH_TIMEOUT,
    stamp=None,
    on_state=None,
):
    """The deployment day as one operation (issue 3, operation 7).

    precheck (sources fetched or uploaded beside the addons and checked,
    commands set, room for the rollback point) → ``backup`` (the caller's,
    e.g. a verified bundle; it raises OperationFailed to stop the run)
    → stop Odoo → the sources moved in → rollback point → install / upgrade
    → restart PostgreSQL (unless ``restart_database`` is False: said in the
    notes) → start Odoo → health → ``log_check`` → done.

    ``log_check`` is the caller's: it returns :func:`.logcheck.check_log`'s
    dict (its "verdict" "pass" / "warn" / "fail" and its "reason"), a
    ``(verdict, reason)`` pair, or the verdict alone; a "fail" fails the run
    with the reason. Both hooks are called as ``hook(ctx, transport, spec)``,
    or ``hook()`` when they take no argument.

    ``source`` is {"kind": "zip", "path": <zip on the manager>,
    "addons_path"} or {"kind": "git", "url", "ref", "addons_path"}, with
    optional "modules". With ``install`` and ``upgrade`` both empty, the
    deployed modules already installed are upgraded and the others installed.

    A failure before the stop leaves the addons path as it was and Odoo
    running. A failure of the stop, of moving the sources in or of the
    rollback point puts the sources back and starts Odoo again. A failure of
    the install, restart, start, health or log check rolls back
    when ``auto_rollback`` (then :class:`DeploymentFailed` says what failed
    and that it rolled back), else raises :class:`RollbackAvailable` for a
    person to choose (:func:`resume_deployment`). ``on_state(state)`` is
    called with a JSON-able copy of the run's state whenever it changes: keep
    it, it is what :func:`resume_deployment` needs after a restart.

    Returns the state: "deployed", "rollback_point", "install_result"
    (versions read back), "downtime" (seconds from the stop to healthy),
    "log_check", "backup", "notes", …
    """
    state = {
        "stamp": _stamp(ctx, stamp),
        "phase": None,
        "done": [],
        "failed_step": None,
        "failure": None,
        "source": dict(source or {}),
        "install": _modules(ctx, install),
        "upgrade": _modules(ctx, upgrade),
        "expected_versions": {},
        "auto_rollback": bool(auto_rollback),
        "restart_database": bool(restart_database),
        "deployed": None,
        "checks": [],
        "backup": None,
        "rollback_point": None,
        "install_ahead": None,
        "install_result": None,
        "versions": {},
        "health": None,
        "log_check": None,
        "rollback": None,
        "stopped_at": None,
        "healthy_at": None,
        "downtime": None,
        "attempts": {},
        "ignored": [],
        "notes": [],
    }
    run = _Deployment(
        ctx, transport, spec, state, backup, log_check, on_state, health_timeout
    )
    return run.start()


def resume_deployment(
    ctx,
    transport,
    spec,
    state,
    action="continue",
    *,
    reason=None,
    log_check=None,
    on_state=None,
    health_timeout=HEALTH_TIMEOUT,
):
    """Take up a deployment run from its saved ``state``.

    ``action``: "continue" after the manager restarted (the step under way
    is taken up again: its detached commands are re-attached when the
    context journals them, an interrupted rollback is finished, a run
    interrupted before the stop is undone); "retry" the failed step (new
    commands); "ignore" its failure (``reason`` is kept in the notes) and go
    on; "rollback" to the rollback point (or, before the stop, put the
    sources back). Returns or raises as :func:`deployment_run`.
    """
    if action not in ACTIONS:
        raise _fail(ctx, _("Unknown action %(action)r."), action=action)
    run = _Deployment(
        ctx,
        transport,
        spec,
        copy.deepcopy(state),
        None,
        log_check,
        on_state,
        health_timeout,
    )
    return run.resume(action, reason)


class _Deployment:
    def __init__(
        self, ctx, transport, spec, state, backup, log_check, on_state, health_timeout
    ):
        self.ctx, self.transport, self.spec = ctx, transport, spec
        self.state = state
        self.backup, self.log_check = backup, log_check
        self.on_state = on_state
        self.health_timeout = health_timeout

    # -- bookkeeping --------------------------------------------------------
    def _save(self):
        if self.on_state is not None:
            self.on_state(copy.deepcopy(self.state))

    def _note(self, message, **params):
        self.state["notes"].append(self.ctx.text(message, **params))

    def _key(self, base, phase=None):
        attempt = self.state["attempts"].get(phase or base, 1)
        return base if attempt <= 1 else f"{base}-{attempt}"

    def _label(self, name):
        return self.ctx.text(LABELS[name])

    def _phase(self, name):
        self.state["phase"] = name
        self._save()
        with self.ctx.step(LABELS[name]):
            self.ctx.progress(PERCENT[name], LABELS[name])
            try:
                getattr(self, "_do_" + name)()
            except RemoteError as error:
                raise OperationFailed(str(error)) from error
        if name not in self.state["done"]:
            self.state["done"].append(name)
        self._save()

    def _stopped(self):
        """Whether the run reached the stop. A state saved by an earlier
        version, which moved the sources in before the stop, may be in the
        phase "deploy" with Odoo never stopped."""
        return self.state.get("phase") == "stop" or "stop" in self.state["done"]

    def _effective(self):
        self.spec, _options = effective_spec(self.ctx, self.transport, self.spec)
        return _options

    # -- the sequence -------------------------------------------------------
    def start(self):
        try:
            self._options = self._effective()
            for name in BEFORE_STOP:
                self._phase(name)
        except OperationFailed as error:
            self._abort_before_stop(self.state["phase"] or "precheck", error)
        return self._after_stop(0)

    def _after_stop(self, index):
        for name in AFTER_STOP[index:]:
            try:
                self._phase(name)
            except OperationFailed as error:
                self._failed_after_stop(name, error)
            except Exception as error:  # noqa: BLE001 - production is down
                self._failed_after_stop(
                    name, OperationFailed(f"{type(error).__name__}: {error}")
                )
        return self._finish()

    def _finish(self):
        ctx = self.ctx
        with ctx.step(_("Done")):
            self.state["phase"] = "done"
            ctx.progress(100, _("Deployed"))
            self._save()
        return self.state

    def resume(self, action, reason):
        self._options = self._effective()
        phase = self.state.get("phase")
        if action == "rollback":
            return self._rollback_on_request()
        if action == "continue":
            return self._continue(phase)
        failed = self.state.get("failed_step")
        if failed not in AFTER_STOP:
            raise _fail(
                self.ctx, _("There is no failed step to %(action)s."), action=action
            )
        index = AFTER_STOP.index(failed)
        if action == "retry":
            self.state["attempts"][failed] = self.state["attempts"].get(failed, 1) + 1
        else:
            self.state["ignored"].append({"step": failed, "reason": reason or ""})
            self._note(
                _("The failure of “%(step)s” was ignored: %(reason)s"),
                step=self._label(failed),
                reason=reason or "-",
            )
            index += 1
        self.state["failed_step"] = None
        return self._after_stop(index)

    def _continue(self, phase):
        """Take the run up where the manager stopped following it."""
        state = self.state
        if phase in ("done", "rolled_back", "aborted"):
            return state
        if phase in ("rolling_back", "rollback_failed"):
            self._rollback_after(
                state.get("failed_step"), OperationFailed(state.get("failure") or "?")
            )
        if (
            phase is None
            or phase in BEFORE_STOP
            or (phase in AFTER_STOP and not self._stopped())
        ):
            self._abort_before_stop(
                phase or "precheck",
                OperationFailed(
                    self.ctx.text(_("The run was interrupted before the stop."))
                ),
            )
        if phase in AFTER_STOP and not state.get("failed_step"):
            return self._after_stop(AFTER_STOP.index(phase))
        raise _fail(
            self.ctx,
            _(
                "This run waits for a decision about “%(step)s”: retry, ignore "
                "or roll back."
            ),
            step=self._label(state["failed_step"])
            if state.get("failed_step") in LABELS
            else phase,
        )

    # -- phases ---------------------------------------------------------------
    def _do_precheck(self):
        ctx, spec, state = self.ctx, self.spec, self.state
        missing = [
            label
            for label, value in (
                (_("database name"), spec.db_name),
                (_("configuration file"), spec.config_path),
                (_("command to stop Odoo"), spec.odoo_stop_argv),
                (_("command to start Odoo"), spec.odoo_start_argv),
                (_("health URL"), spec.health_url),
                (_("data directory"), spec.data_dir),
            )
            if not value
        ]
        if missing:
            raise _fail(
                ctx,
                _("The environment lacks what a deployment needs: %(missing)s."),
                missing=", ".join(ctx.text(label) for label in missing),
            )
        check_health_url(ctx, spec.health_url)
        _rollback_point_space(ctx, self.transport, spec, state["notes"])
        source = state["source"]
        kind = source.get("kind")
        if kind == "zip":
            plan = _prepare_zip(
                ctx,
                self.transport,
                spec,
                source.get("path"),
                source.get("addons_path"),
                source.get("modules"),
                state["stamp"],
                self._options,
            )
        elif kind == "git":
            plan = _prepare_git(
                ctx,
                self.transport,
                spec,
                source.get("url"),
                source.get("ref"),
                source.get("addons_path"),
                source.get("modules"),
                state["stamp"],
                self._options,
            )
        else:
            raise _fail(ctx, _("Unknown source kind %(kind)r."), kind=kind)
        state["deployed"] = plan
        state["checks"] = plan.get("checks", [])
        self._plan_modules(plan)

    def _plan_modules(self, plan):
        state = self.state
        checks = {check["name"]: check for check in plan.get("checks", [])}
        if not state["install"] and not state["upgrade"]:
            for name in plan["modules"]:
                if (checks.get(name) or {}).get("state") in ("installed", "to upgrade"):
                    state["upgrade"].append(name)
                else:
                    state["install"].append(name)
        state["expected_versions"] = {
            name: check["version"] for name, check in checks.items() if check["version"]
        }

    def _do_backup(self):
        if self.backup is None:
            self._note(_("No backup was taken: none was asked for."))
            return
        self.state["backup"] = _call(self.backup, self.ctx, self.transport, self.spec)

    def _do_deploy(self):
        plan = self.state["deployed"]
        if plan["kind"] == "zip":
            _apply_zip(self.ctx, self.transport, plan)
        else:
            _apply_git(self.ctx, self.transport, plan)

    def _do_stop(self):
        if not self.state["stopped_at"]:
            # Before the clock: Odoo still serves while this one imports.
            self._start_install_ahead()
            self.state["stopped_at"] = time.time()
            self._save()
        _stop_odoo(self.ctx, self.transport, self.spec, self._key("odoo-stop", "stop"))

    def _start_install_ahead(self):
        """Start the install now, held before it reads its configuration
        until the rollback point is made (see gated_install): its imports,
        half a second and more, no longer add to the downtime. Starting it
        is only a gain: when it cannot be started, the install runs after
        the point as it always did."""
        state = self.state
        try:
            gate = gated_install(
                self.ctx,
                self.spec,
                state["install"],
                state["upgrade"],
                key="install-ahead",
                stamp=state["stamp"],
                wait=2 * SERVICE_TIMEOUT + COPY_TIMEOUT,
            )
        except OperationFailed:
            return  # the install itself will say what is wrong
        if gate is None:
            return
        # Kept before it starts: a run taken up again knows of it.
        state["install_ahead"] = gate
        self._save()
        try:
            launch_gated_install(self.ctx, self.transport, self.spec, gate)
        except (OperationFailed, RemoteError) as error:
            run_anyway(self.ctx, self.transport, ["touch", "--", gate["stop"]])
            state["install_ahead"] = None
            self._note(
                _(
                    "The install could not be started ahead (%(error)s): it runs "
                    "once the rollback point is taken."
                ),
                error=error,
            )

    def _gate(self):
        """The install started ahead, while it has not ended."""
        gate = self.state.get("install_ahead")
        return gate if gate and not gate.get("ended") else None

    def _close_gate(self):
        """End the install started ahead if it has not read its
        configuration yet. True when it surely never reached the database
        (or there was none); False when it ran, or when that is unknown."""
        gate = self._gate()
        if gate is None:
            return True
        try:
            run_anyway(self.ctx, self.transport, ["touch", "--", gate["stop"]])
            status = _install_ahead_status(self.ctx, self.transport, self.spec, gate)
        except (OperationFailed, RemoteError):
            return False
        gate["ended"] = True
        self._save()
        return gate_closed(status)

    def _do_rollback_point(self):
        gate = self._gate()
        point, opened = _rollback_point(
            self.ctx,
            self.transport,
            self.spec,
            self.state["stamp"],
            self._key("rollback-point", "rollback_point"),
            gate_go=gate and gate["go"],
        )
        self.state["rollback_point"] = point
        if gate and not opened:
            # The copy's command did not open it (taken up again, say): the
            # point is made and kept, so the install may go on.
            self._save()
            _run(
                self.ctx,
                self.transport,
                ["touch", "--", gate["go"]],
                _("The install started ahead could not be let go on: %(reason)s"),
            )

    def _do_install(self):
        state = self.state
        key = self._key("install-upgrade", "install")
        # A retry runs the install again, on its own.
        gate = self._gate() if key == "install-upgrade" else None
        try:
            state["install_result"] = _install_upgrade(
                self.ctx,
                self.transport,
                self.spec,
                state["install"],
                state["upgrade"],
                expected_versions=state["expected_versions"],
                key=key,
                stamp=state["stamp"],
                timeout=INSTALL_TIMEOUT,
                gate=gate,
            )
        except InstallFailed as error:
            # It ended (judged failed): only an install whose end was seen
            # counts as ended, never one whose wait was cut short.
            if gate:
                gate["ended"] = True
            state["install_result"] = error.result
            raise
        if gate:
            gate["ended"] = True
        state["versions"] = state["install_result"]["versions"]

    def _do_restart_database(self):
        spec = self.spec
        if not self.state["restart_database"]:
            self._note(_("PostgreSQL was not restarted: the run was told not to."))
            return
        if not (spec.pg_restart_argv or (spec.pg_stop_argv and spec.pg_start_argv)):
            self._note(_("PostgreSQL was not restarted: no restart command is set."))
            return
        _restart_postgres(
            self.ctx,
            self.transport,
            spec,
            self._key("postgresql-restart", "restart_database"),
        )

    def _do_start(self):
        _start_odoo(
            self.ctx, self.transport, self.spec, self._key("odoo-start", "start")
        )

    def _do_health(self):
        state = self.state
        state["health"] = _wait_healthy(
            self.ctx, self.transport, self.spec, self.health_timeout
        )
        state["healthy_at"] = time.time()
        state["downtime"] = round(state["healthy_at"] - state["stopped_at"], 3)
        # Odoo serves users from now on: what they write is counted from here,
        # so a later failure can say what a rollback would discard.
        state["writes_at_healthy"] = _table_writes(self.ctx, self.transport, self.spec)

    def _do_log_check(self):
        if self.log_check is None:
            self._note(_("No log check was asked for."))
            return
        outcome = _call(self.log_check, self.ctx, self.transport, self.spec)
        self.state["log_check"] = checked = _log_check_outcome(outcome)
        if checked["verdict"] == "fail":
            raise _fail(
                self.ctx,
                _("The log check failed: %(reasons)s"),
                reasons=checked["reason"]
                or self.ctx.text(_("the log check gave no reason")),
            )

    def _writes_since_healthy(self):
        """Rows written since Odoo was healthy, by table, as a sentence."""
        ctx = self.ctx
        before = self.state.get("writes_at_healthy")
        after = _table_writes(ctx, self.transport, self.spec)
        if before is None or after is None:
            return ctx.text(_("the rows written since could not be counted"))
        changed = sorted(
            (
                (count - before.get(table, 0), table)
                for table, count in after.items()
                if count > before.get(table, 0)
            ),
            reverse=True,
        )
        if not changed:
            return ctx.text(_("no row written since, as far as PostgreSQL counted"))
        shown = ", ".join(f"{table}: {count}" for count, table in changed[:10])
        if len(changed) > 10:
            shown += ", " + ctx.text(
                _("%(count)s more table(s)"), count=len(changed) - 10
            )
        return ctx.text(_("rows written by table: %(tables)s"), tables=shown)

    # -- failures -----------------------------------------------------------
    def _abort_before_stop(self, name, error):
        ctx, state = self.ctx, self.state
        state["failed_step"], state["failure"] = name, str(error)
        plan = state.get("deployed")
        extra = ""
        try:
            if plan:
                if plan.get("applied"):
                    _undeploy(ctx, self.transport, plan)
                _discard_incoming(ctx, self.transport, plan)
        except (OperationFailed, RemoteError) as second:
            extra = " " + ctx.text(
                _("Putting the sources back failed: %(error)s"), error=second
            )
        state["phase"] = "aborted"
        self._save()
        raise DeploymentFailed(
            ctx.text(
                _(
                    "“%(step)s” failed: %(error)s. Odoo was not stopped and the "
                    "sources are as they were."
                ),
                step=self._label(name),
                error=error,
            )
            + extra,
            state,
        ) from error

    def _failed_after_stop(self, name, error):
        ctx, state = self.ctx, self.state
        # A cancel is honoured by going no further; what follows puts
        # production back (sources, Odoo, the rollback point) and must run
        # to its end: a cancel asked now no longer stops anything.
        ctx.cancellable = False
        state["failed_step"], state["failure"] = name, str(error)
        self._save()
        if name in BEFORE_POINT:
            self._recover_before_point(name, error)
        if name in SERVED_AGAIN:
            # Odoo has served users since it was healthy: rolling back would
            # throw their writes into the failed copy. Never automatic.
            raise RollbackAvailable(
                ctx.text(
                    _(
                        "“%(step)s” failed: %(error)s. Odoo has been serving users "
                        "since it was healthy again, so nothing was rolled back "
                        "automatically: a rollback would set aside everything "
                        "written since (%(writes)s) in a copy named after the failed "
                        "database. A manager decides: retry the step, ignore the "
                        "failure or roll back (rollback point %(point)s)."
                    ),
                    step=self._label(name),
                    error=error,
                    writes=self._writes_since_healthy(),
                    point=state["rollback_point"]["database"],
                ),
                state,
                name,
            ) from error
        if not state["auto_rollback"]:
            raise RollbackAvailable(
                ctx.text(
                    _(
                        "“%(step)s” failed: %(error)s. A rollback point is ready "
                        "(%(point)s): retry the step, ignore the failure or roll back."
                    ),
                    step=self._label(name),
                    error=error,
                    point=state["rollback_point"]["database"],
                ),
                state,
                name,
            ) from error
        self._rollback_after(name, error)

    def _recover_before_point(self, name, error):
        """Stop, sources or rollback point failed: the database is untouched;
        put the sources back and Odoo running again, then say so."""
        ctx, state = self.ctx, self.state
        if not self._close_gate():
            self._install_ran_ahead(name, error)
        try:
            self._put_back_and_start()
        except (OperationFailed, RemoteError) as second:
            state["phase"] = "failed"
            self._save()
            raise DeploymentFailed(
                ctx.text(
                    _(
                        "“%(step)s” failed: %(error)s. The database was not changed, "
                        "but putting the sources back and starting Odoo failed too: "
                        "%(second)s"
                    ),
                    step=self._label(name),
                    error=error,
                    second=second,
                ),
                state,
            ) from error
        raise DeploymentFailed(
            ctx.text(
                _(
                    "“%(step)s” failed: %(error)s. The database was not changed; "
                    "the previous sources are back and Odoo is running."
                ),
                step=self._label(name),
                error=error,
            ),
            state,
        ) from error

    def _install_ran_ahead(self, name, error):
        """The install started ahead read its configuration, or whether it
        did is unknown, though the step before it failed: the database may
        have changed. Back to the rollback point when there is one; else
        Odoo is left stopped for a person to look."""
        state = self.state
        if state.get("rollback_point"):
            self._rollback_after(name, error)
        state["phase"] = "failed"
        self._save()
        raise DeploymentFailed(
            self.ctx.text(
                _(
                    "“%(step)s” failed: %(error)s. The install started ahead may "
                    "have run, so the database may have changed and there is no "
                    "rollback point to go back to: Odoo was left stopped with the "
                    "new sources. Check the database and the install's log "
                    "%(log)s before starting Odoo."
                ),
                step=self._label(name),
                error=error,
                log=state["install_ahead"]["log_file"],
            ),
            state,
        ) from error

    def _put_back_and_start(self):
        ctx, state = self.ctx, self.state
        plan = state.get("deployed")
        _undeploy(ctx, self.transport, plan)
        if plan:
            _discard_incoming(ctx, self.transport, plan)
        with ctx.step(_("Start Odoo again")):
            _start_odoo(ctx, self.transport, self.spec, self._key("recover-odoo-start"))
            state["health"] = _wait_healthy(
                ctx, self.transport, self.spec, self.health_timeout
            )
        state["phase"] = "aborted"
        self._save()

    def _rollback(self):
        state = self.state
        state["phase"] = "rolling_back"
        self._save()
        result = rollback(
            self.ctx,
            self.transport,
            self.spec,
            state["rollback_point"],
            state.get("deployed"),
            key_prefix=self._key("rollback"),
            health_timeout=self.health_timeout,
        )
        state["rollback"] = result
        state["phase"] = "rolled_back"
        if state["stopped_at"]:
            state["downtime"] = round(time.time() - state["stopped_at"], 3)
        self._save()
        return result

    def _rollback_after(self, name, error):
        ctx, state = self.ctx, self.state
        try:
            result = self._rollback()
        except DeploymentFailed as failed:
            state["rollback"] = failed.result
            state["phase"] = "rollback_failed"
            self._save()
            raise DeploymentFailed(
                ctx.text(
                    _(
                        "“%(step)s” failed: %(error)s. Rolling back failed too: "
                        "%(rollback)s"
                    ),
                    step=self._label(name) if name in LABELS else name,
                    error=error,
                    rollback=failed,
                ),
                state,
            ) from error
        raise DeploymentFailed(
            ctx.text(
                _(
                    "“%(step)s” failed: %(error)s. Rolled back: the database and "
                    "filestore are back to the rollback point of %(at)s (the failed "
                    "database is kept as %(failed)s), the previous sources are back, "
                    "and Odoo is running and healthy."
                ),
                step=self._label(name) if name in LABELS else name,
                error=error,
                at=state["rollback_point"]["created_at"],
                failed=result["failed_database"] or "-",
            ),
            state,
            rolled_back=True,
        ) from error

    def _rollback_on_request(self):
        state = self.state
        phase = state.get("phase")
        if not state.get("rollback_point"):
            if phase in BEFORE_POINT and self._stopped():
                if not self._close_gate():
                    self._install_ran_ahead(phase, OperationFailed("-"))
                self._put_back_and_start()
            elif phase in AFTER_STOP and self._stopped():
                raise _fail(self.ctx, _("There is no rollback point to go back to."))
            else:
                with contextlib.suppress(DeploymentFailed):
                    self._abort_before_stop(phase or "precheck", OperationFailed("-"))
        else:
            state["attempts"]["rollback"] = state["attempts"].get("rollback", 1) + 1
            self._rollback()
        self._note(_("Rolled back on request."))
        self._save()
        return state


def _install_ahead_status(ctx, transport, spec, gate):
    """How the install started ahead ended, once told to stop (waited for:
    when its gate was open it runs to its end)."""
    return _detached(ctx, transport, gate["argv"], gate["key"], INSTALL_TIMEOUT, spec)


# What the run keeps of a log check: its findings (samples, tracebacks) stay
# with the check; the state is saved at every step.
LOG_CHECK_KEPT = ("verdict", "reason", "reasons", "errors", "warnings", "critical")


def _table_writes(ctx, transport, spec):
    """{table: rows written} from PostgreSQL's statistics, or None if unread."""
    try:
        result = ctx.run(
            transport,
            spec.psql_argv(TABLE_WRITES_SQL),
            env=spec.db_env(),
            secrets=spec.db_secrets(),
            timeout=120,
        )
    except RemoteError:
        return None
    if not result.ok:
        return None
    writes = {}
    for line in result.stdout.text().splitlines():
        table, _sep, count = line.strip().rpartition("|")
        if table and count.isdigit():
            writes[table] = int(count)
    return writes


def _log_check_outcome(outcome):
    """A log-check hook's return as ``{"verdict", "reason", …}``.

    The hook returns check_log's dict, a (verdict, reason) pair or the
    verdict alone. Without a "reason", the "reasons" sentences make one.
    """
    if isinstance(outcome, dict):
        kept = {key: outcome[key] for key in LOG_CHECK_KEPT if key in outcome}
    elif isinstance(outcome, list | tuple) and len(outcome) == 2:
        kept = {"verdict": outcome[0], "reason": outcome[1]}
    else:
        kept = {"verdict": outcome}
    if not kept.get("reason"):
        kept["reason"] = "; ".join(kept.get("reasons") or [])
    return kept


# The deployment day's whole interface, where its callers find it.
__all__ = [
    "AFTER_STOP",
    "BEFORE_STOP",
    "AddonsRefused",
    "DeploymentFailed",
    "InstallFailed",
    "RollbackAvailable",
    "check_addons",
    "deploy_git",
    "deploy_zip",
    "deployment_run",
    "drop_rollback_point",
    "exception_summary",
    "install_upgrade",
    "restart_postgres",
    "resume_deployment",
    "rollback",
    "rollback_point",
    "start_odoo",
    "stop_odoo",
    "undeploy",
    "validate_ref",
    "validate_repo_url",
    "wait_healthy",
]

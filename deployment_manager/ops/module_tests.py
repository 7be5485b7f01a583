"""The new module's own tests on real data (issue 4, operation 5; BRIEF D4, D5).

On an environment (development, as a rule), on a throwaway copy of its
database:

1. the database is copied into ``<db>_tests_<stamp>`` (``pg_dump``, its data
   loaded as it comes while the dump is kept in the work directory, from
   which the indexes are then built in parallel: the environment's Odoo
   keeps running, which a ``CREATE DATABASE … TEMPLATE`` would not allow) and
   its filestore is copied as hard links (Odoo never rewrites a stored file,
   it writes new ones, so the copy costs no room and the original is safe);
2. Odoo runs the module's tests on the copy: ``-i`` when the module is not
   installed there, ``-u`` when it is, ``--test-enable --test-tags
   /<module>``, its HTTP server on a free loopback port of its own (browser
   tests need it), its log in a file of its own, at INFO with the per-test
   timing report of ``odoo.tests.stats``;
3. that log is parsed test by test (:func:`parse_test_log`): status,
   duration, queries, and the traceback of each failure or error;
4. the copy, its filestore and the files made on the way are removed,
   whatever happened.

Names come from a stamp (``yyyymmddHHMMSS``), so a worker taking the
operation up again after a restart finds the copy the first one made and
re-attaches to the test run instead of starting another one.
"""

import re
from dataclasses import replace

from ..remote import InvalidInput, RemoteError, validate_module_name
from ..remote.masking import mask
from .common import LONG_TIMEOUT, SHORT_TIMEOUT, checked_database, run_anyway, why
from .context import OperationFailed
from .deploy_base import (
    MAX_LOG_BYTES,
    _admin,
    _existing,
    _filestore_root,
    _module_states,
    _run,
    _stamp,
    _work_dir,
    database_copy_needs,
    effective_spec,
    environment_python,
    prepare_work_dir,
    require_space,
)
from .i18n import _
from .logcheck import LEVELS, parse_records
from .odoo_control import exception_summary
from .pg import dump_and_load_argv, pg_restore_argv

TESTS_TIMEOUT = 6 * 3600
# Odoo's 63-byte limit on database names, less "_tests_" and a stamp.
MAX_SOURCE_NAME = 63 - len("_tests_") - 14
# Only the room the operating system gives: the port is free when asked and
# taken a moment later by the test server.
FREE_PORT_PY = (
    "import socket\n"
    "s = socket.socket()\n"
    "s.bind(('127.0.0.1', 0))\n"
    "print(s.getsockname()[1])\n"
)
EXISTS_SQL = "SELECT datname FROM pg_database WHERE datname = :'name';\n"
DROP_COPY_SQL = """\
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :'name';
DROP DATABASE IF EXISTS :"name";
"""

STATUSES = ("passed", "failed", "error", "skipped")

_STARTING_RE = re.compile(r"Starting (\S+) \.\.\.$")
_OUTCOME_RE = re.compile(r"(FAIL|ERROR): (.+)")
_SKIPPED_RE = re.compile(r"skipped (\S+) : (.*)", re.DOTALL)
_SUBTEST_RE = re.compile(r"Subtest (\S+) ")
# "setUpClass (odoo.addons.m.tests.test_x.TestX)": a class failed before
# any of its tests started.
_CLASS_FIXTURE_RE = re.compile(r"(\w+) \((odoo\.addons\.[\w.]+)\)")
_STATS_LINE_RE = re.compile(r"\s*(\S+): ([0-9.]+)s ([0-9]+) queries")
_TEST_LOGGER_RE = re.compile(r"odoo\.addons\.(\w+)\.tests(?:\.(.+))?$")
# Odoo's own summaries of failed tests: the tests' records already say it.
_SUMMARIES = (
    ("odoo.modules.loading", re.compile(r"Module \w+: \d+ failures")),
    ("odoo.modules.loading", re.compile(r"At least one test failed")),
    ("odoo.tests.result", re.compile(r".* when loading database")),
    ("odoo.service.server", re.compile(r".*: at least one error occurred in a test")),
)


# ----------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------
def parse_test_log(text):
    """The tests found in an Odoo log, each with its outcome.

    Returns ``{"tests": [{"module", "test_module", "test_class", "method",
    "name", "status", "duration", "queries", "message", "traceback",
    "logged_errors"}], "errors": [messages of ERROR / CRITICAL records that
    belong to no test], "counts": {status: n}}``. A test is passed when it
    started and nothing failed, erred or skipped it; its subtests' failures
    are its own; a class whose ``setUpClass`` failed gets a line of its own.
    """
    tests = {}
    errors = []
    stats = {}
    current = None
    for record in parse_records(text):
        message = record.message
        first = message.split("\n", 1)[0]
        logger_match = _TEST_LOGGER_RE.match(record.logger)
        if record.logger == "odoo.tests.stats" and first.startswith("Detailed"):
            stats.update(_stats(message))
            continue
        if logger_match:
            module, test_module = logger_match.group(1), logger_match.group(2) or ""
            started = _STARTING_RE.match(first)
            if started:
                current = _test(tests, module, test_module, started.group(1))
                continue
            outcome = _OUTCOME_RE.match(first)
            if outcome and record.level == "ERROR":
                line = _outcome_line(tests, module, test_module, outcome.group(2))
                _fail(line, outcome.group(1), record.traceback or "")
                continue
            skipped = _SKIPPED_RE.match(message)
            if skipped:
                line = _test(tests, module, test_module, skipped.group(1))
                if line["status"] == "passed":
                    line["status"] = "skipped"
                    line["message"] = skipped.group(2).strip()[:500]
                continue
        if LEVELS.get(record.level, 0) < LEVELS["ERROR"] or _is_summary(record):
            continue
        text_of = first[:300]
        if record.traceback:
            text_of += f" ({exception_summary(record.traceback)})"
        if current is not None and logger_match:
            current["logged_errors"].append(text_of)
        else:
            errors.append(f"{record.level} {record.logger}: {text_of}")
    lines = list(tests.values())
    for line in lines:
        key = f"{line['module']}.{line['test_module']}.{line['name']}"
        if key in stats:
            line["duration"], line["queries"] = stats[key]
    counts = dict.fromkeys(STATUSES, 0)
    for line in lines:
        counts[line["status"]] += 1
    return {"tests": lines, "errors": errors, "counts": counts}


def _stats(message):
    """{"module.test_file.Class.method": (seconds, queries)} of the report."""
    found = {}
    for row in message.split("\n")[1:]:
        match = _STATS_LINE_RE.fullmatch(row.rstrip())
        if match:
            found[match.group(1)] = (float(match.group(2)), int(match.group(3)))
    return found


def _test(tests, module, test_module, name):
    key = (module, test_module, name)
    line = tests.get(key)
    if line is None:
        test_class, _dot, method = name.rpartition(".")
        line = tests[key] = {
            "module": module,
            "test_module": test_module,
            "test_class": test_class,
            "method": method,
            "name": name,
            "status": "passed",
            "duration": 0.0,
            "queries": 0,
            "message": "",
            "traceback": "",
            "logged_errors": [],
        }
    return line


def _outcome_line(tests, module, test_module, description):
    subtest = _SUBTEST_RE.match(description)
    if subtest:
        return _test(tests, module, test_module, subtest.group(1))
    fixture = _CLASS_FIXTURE_RE.fullmatch(description.strip())
    if fixture:
        # odoo.addons.<module>.tests.<file>.<Class>
        path = fixture.group(2).split(".")
        test_module = ".".join(path[4:-1]) or test_module
        return _test(tests, module, test_module, f"{path[-1]}.{fixture.group(1)}")
    return _test(tests, module, test_module, description.strip())


def _fail(line, flavour, traceback):
    # An error outranks a failure: the test could not even judge.
    if flavour == "ERROR" or line["status"] != "error":
        line["status"] = "error" if flavour == "ERROR" else "failed"
    summary = exception_summary(traceback) if traceback else flavour
    line["message"] = "; ".join(m for m in (line["message"], summary) if m)[:1000]
    line["traceback"] = "\n".join(t for t in (line["traceback"], traceback) if t)


def _is_summary(record):
    first = record.message.split("\n", 1)[0]
    return any(
        record.logger == logger and pattern.match(first)
        for logger, pattern in _SUMMARIES
    )


# ----------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------
def run_module_tests(ctx, transport, spec, module, *, stamp=None, mode="auto"):
    """Run ``module``'s tests on a throwaway copy of the environment's
    database; see the module's documentation.

    ``mode`` is "install", "upgrade" or "auto" (install when the module is
    not installed in the copy). Returns ``{"module", "mode", "database",
    "copy", "exit_code", "verdict": "passed" | "failed" | "error",
    "tests", "errors", "counts", "log", "notes"}``; the verdict is "error"
    when the run itself failed (the module did not install, Odoo crashed, no
    test ran) — its ``errors`` say why.
    """
    try:
        module = validate_module_name(module, field="module")
    except InvalidInput as error:
        raise OperationFailed(str(error)) from None
    if mode not in ("auto", "install", "upgrade"):
        raise OperationFailed(ctx.text(_("Unknown mode %(mode)s."), mode=mode))
    run = _TestRun(ctx, transport, spec, module, _stamp(ctx, stamp), mode)
    try:
        return run.run()
    finally:
        run.clean_up()


class _TestRun:
    def __init__(self, ctx, transport, spec, module, stamp, mode):
        self.ctx, self.transport, self.module, self.stamp = (
            ctx,
            transport,
            module,
            stamp,
        )
        self.spec, _options = effective_spec(ctx, transport, spec)
        self.mode = mode
        self.db = checked_database(ctx, self.spec.db_name)
        if len(self.db) > MAX_SOURCE_NAME:
            raise OperationFailed(
                ctx.text(
                    _("The database name %(db)s is too long to name a copy after it."),
                    db=self.db,
                )
            )
        self.copy = f"{self.db}_tests_{stamp}"
        self.work_dir = _work_dir(ctx, self.spec)
        self.dump = f"{self.work_dir}/module-tests-{self.db}-{stamp}.dump"
        self.log_file = f"{self.work_dir}/module-tests-{self.db}-{stamp}.log"
        root = _filestore_root(self.spec)
        self.filestore = f"{root}/{self.db}" if root else None
        self.filestore_copy = f"{root}/{self.copy}" if root else None
        self.db_kwargs = {"env": self.spec.db_env(), "secrets": self.spec.db_secrets()}
        self.notes = []
        self.copy_made = False

    def run(self):
        ctx = self.ctx
        with ctx.step(_("Copy the database for the tests")):
            self._copy_database()
            self._copy_filestore()
        with ctx.step(_("Run the module's tests")):
            exit_code, log = self._run_tests()
        with ctx.step(_("Read the test results")):
            ctx.progress(90, _("Reading the test results"))
            return self._results(exit_code, log)

    # -- the copy ----------------------------------------------------------
    def _copy_database(self):
        ctx = self.ctx
        ctx.progress(5, _("Copying the database for the tests"))
        existing = _admin(ctx, self.transport, self.spec, EXISTS_SQL, name=self.copy)
        if not existing.ok:
            raise OperationFailed(
                ctx.text(
                    _("PostgreSQL cannot be reached: %(reason)s"),
                    reason=why(ctx, existing),
                )
            )
        self.copy_made = True  # from here on, whatever exists of it goes
        connection = self.spec.pg_connection_args()
        # A previous worker of this very operation may have made it: then the
        # restore below re-attaches to its own (or reads how it ended).
        if self.copy not in existing.stdout.text().split():
            needs, db_size = database_copy_needs(
                ctx, self.transport, self.spec, self.notes
            )
            require_space(ctx, self.transport, [*needs, (self.work_dir, db_size)])
            prepare_work_dir(ctx, self.transport, self.work_dir)
            created = ctx.run(
                self.transport,
                ["createdb", *connection, "-T", "template0", "--", self.copy],
                timeout=SHORT_TIMEOUT,
                **self.db_kwargs,
            )
            if not created.ok:
                raise OperationFailed(
                    ctx.text(
                        _("The copy %(db)s cannot be created: %(reason)s"),
                        db=self.copy,
                        reason=why(ctx, created),
                    )
                )
        # The data is loaded while pg_dump produces it; the dump is kept in a
        # file for the index builds, in parallel, after.
        self._detached(
            dump_and_load_argv(connection, self.db, self.copy, self.dump),
            f"tests-copy-{self.stamp}",
            _("The database %(db)s cannot be dumped: %(reason)s"),
            db=self.db,
        )
        ctx.progress(25, _("Restoring the copy"))
        self._detached(
            pg_restore_argv(connection, self.copy, self.dump, ("--section=post-data",)),
            f"tests-restore-{self.stamp}",
            _("The copy %(db)s cannot be restored: %(reason)s"),
            db=self.copy,
        )
        run_anyway(ctx, self.transport, ["rm", "-f", "--", self.dump], timeout=60)

    def _copy_filestore(self):
        ctx = self.ctx
        if not self.filestore:
            return
        found = _existing(ctx, self.transport, [self.filestore, self.filestore_copy])
        # None to copy, or a previous worker of this operation copied it.
        if self.filestore not in found or self.filestore_copy in found:
            return
        ctx.progress(40, _("Linking the filestore for the copy"))
        _run(
            ctx,
            self.transport,
            ["cp", "-al", "--", self.filestore, self.filestore_copy],
            _("The filestore cannot be copied: %(reason)s"),
            timeout=LONG_TIMEOUT,
        )

    def _detached(self, argv, key, message, db):
        try:
            status = self.ctx.run_detached(
                self.transport, argv, key, timeout=LONG_TIMEOUT, **self.db_kwargs
            )
        except RemoteError as error:
            raise OperationFailed(str(error)) from error
        if not status.ok:
            raise OperationFailed(
                self.ctx.text(message, db=db, reason=why(self.ctx, status))
            )
        return status

    # -- the tests ---------------------------------------------------------
    def _run_tests(self):
        ctx, spec = self.ctx, self.spec
        if not spec.config_path:
            raise OperationFailed(ctx.text(_("No configuration file is set.")))
        states = _module_states(ctx, self.transport, replace(spec, db_name=self.copy))
        installed = states.get(self.module, ("",))[0] == "installed"
        if self.mode == "auto":
            self.mode = "upgrade" if installed else "install"
        elif self.mode == "upgrade" and not installed:
            raise OperationFailed(
                ctx.text(
                    _(
                        "%(module)s is not installed in %(db)s: it cannot be "
                        "upgraded; install it instead."
                    ),
                    module=self.module,
                    db=self.db,
                )
            )
        port = self._free_port()
        argv = [
            *spec.odoo_argv,
            "-c",
            spec.config_path,
            "-d",
            self.copy,
            "-i" if self.mode == "install" else "-u",
            self.module,
            "--test-enable",
            "--test-tags",
            f"/{self.module}",
            "--stop-after-init",
            # Browser tests need the HTTP server, on the copy only.
            "--http-interface=127.0.0.1",
            f"--http-port={port}",
            f"--db-filter=^{re.escape(self.copy)}$",
            "--workers=0",
            "--max-cron-threads=0",
            "--log-level=info",
            "--log-handler=odoo.tests.stats:DEBUG",
            "--logfile",
            self.log_file,
        ]
        ctx.progress(
            45,
            ctx.text(
                _("Running the tests of %(module)s (%(mode)s)"),
                module=self.module,
                mode=self.mode,
            ),
        )
        try:
            status = ctx.run_detached(
                self.transport,
                argv,
                f"module-tests-{self.stamp}",
                timeout=TESTS_TIMEOUT,
                **self.db_kwargs,
            )
        except RemoteError as error:
            raise OperationFailed(str(error)) from error
        if status.state != "done" or status.cancelled:
            raise OperationFailed(
                ctx.text(
                    _("The tests did not run to their end: %(reason)s"),
                    reason=why(ctx, status),
                )
            )
        read = ctx.run(
            self.transport,
            ["cat", "--", self.log_file],
            keep_output=False,
            timeout=600,
            capture_limits={
                "head_limit": MAX_LOG_BYTES // 2,
                "tail_limit": MAX_LOG_BYTES // 2,
                "spool_limit": MAX_LOG_BYTES,
            },
        )
        if not read.ok:
            raise OperationFailed(
                ctx.text(
                    _("The tests' log %(path)s cannot be read: %(reason)s"),
                    path=self.log_file,
                    reason=why(ctx, read),
                )
            )
        log = mask(read.stdout.text_or_excerpt(), self.spec.db_secrets())
        if not status.ok and status.stderr_excerpt:
            log += "\n" + mask(status.stderr_excerpt, self.spec.db_secrets())
        return status.exit_code, log

    def _free_port(self):
        python = environment_python(self.ctx, self.transport, self.spec)
        result = _run(
            self.ctx,
            self.transport,
            [*python, "-c", FREE_PORT_PY],
            _("No free port can be found on the host: %(reason)s"),
            timeout=60,
        )
        port = result.stdout.text().strip()
        if not port.isdigit():
            raise OperationFailed(
                self.ctx.text(_("No free port can be found on the host."))
            )
        return int(port)

    def _results(self, exit_code, log):
        ctx = self.ctx
        parsed = parse_test_log(log)
        errors = parsed["errors"]
        mine = [line for line in parsed["tests"] if line["module"] == self.module]
        counts = parsed["counts"]
        if (
            exit_code not in (0, None)
            and not errors
            and not (counts["failed"] or counts["error"])
        ):
            errors.append(
                ctx.text(_("Odoo ended with exit code %(code)s."), code=exit_code)
            )
        if not mine and not errors:
            errors.append(
                ctx.text(
                    _(
                        "No test of %(module)s ran: has it a tests package "
                        "importing its test files?"
                    ),
                    module=self.module,
                )
            )
        if errors:
            verdict = "error"
        elif counts["failed"] or counts["error"]:
            verdict = "failed"
        else:
            verdict = "passed"
        return {
            "module": self.module,
            "mode": self.mode,
            "database": self.db,
            "copy": self.copy,
            "exit_code": exit_code,
            "verdict": verdict,
            "tests": parsed["tests"],
            "errors": errors,
            "counts": counts,
            "log": log,
            "notes": self.notes,
        }

    # -- whatever happened -------------------------------------------------
    def clean_up(self):
        """Drop the copy and remove its files: the environment is as it was."""
        ctx, transport = self.ctx, self.transport
        dump = self.dump
        leftovers = [dump, f"{dump}.tmp", f"{dump}.tee", f"{dump}.dumped"]
        run_anyway(
            ctx, transport, ["rm", "-f", "--", *leftovers, self.log_file], timeout=60
        )
        if self.filestore_copy and self.copy_made:
            run_anyway(ctx, transport, ["rm", "-rf", "--", self.filestore_copy])
        if not self.copy_made:
            return
        dropped = run_anyway(
            ctx,
            transport,
            self.spec.admin_psql_argv([("name", self.copy)]),
            stdin_data=DROP_COPY_SQL.encode(),
            timeout=SHORT_TIMEOUT,
            **self.db_kwargs,
        )
        if not dropped.ok:
            self.notes.append(
                ctx.text(
                    _("The copy %(db)s could not be dropped: %(reason)s; drop it."),
                    db=self.copy,
                    reason=why(ctx, dropped),
                )
            )

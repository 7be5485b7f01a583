"""Benchmark of the log check against ``grep -c ERROR`` on a large Odoo log.

Generates a realistic Odoo 18 log (werkzeug requests, cron and registry
lines, about 1 % warnings and 0.1 % errors with tracebacks, 0.1 % INFO
lines with "ERROR" and "WARNING" in their message) in a temporary
directory, then times on that same file:

(a) ``grep -c ERROR file``;
(b) the log check's parser and analysis (``iter_records`` with
    ``min_level="WARNING"`` then ``analyse``), reading the file locally in
    4 MiB chunks, never the whole file in memory;
(c) unless ``--no-transport``: the whole ``check_log`` through a
    ``LocalTransport`` (``dd`` commands of 4 MiB, as on a managed host).

and prints each throughput in MB/s and the ratio "log check / grep", in
wall-clock time and in CPU time (the CPU time does not count the waits of
a machine busy with other work). It fails unless (b) and (c) find every
generated WARNING and ERROR record, each ERROR with its traceback's
exception, and none of the INFO lines. The directory is removed at the
end. Run from the repository root:

    python3 bench/logcheck_bench.py [--size-mb 300] [--repeat 2] [--dir /tmp]
"""

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import _addon  # noqa: F401 - before the addon is imported

from deployment_manager.ops.context import SimpleContext
from deployment_manager.ops.logcheck import (
    CHUNK_BYTES,
    analyse,
    check_log,
    iter_records,
)
from deployment_manager.remote.local import LocalTransport

MB = 1_000_000

ROUTES = [
    "/web/dataset/call_kw/res.partner/web_search_read",
    "/web/dataset/call_kw/sale.order/web_read",
    "/web/dataset/call_kw/account.move/action_post",
    "/web/action/load",
    "/web/webclient/load_menus",
    "/mail/data",
    "/bus/websocket_worker_bundle",
    "/web/image/res.partner/{id}/avatar_128",
    "/web/content/{id}?download=true",
    "/longpolling/im_status",
]
INFO = [
    ("odoo.addons.base.models.ir_cron", "Job 'Mail: Email Queue Manager' ({id}) done"),
    ("odoo.addons.base.models.ir_cron", "Starting job `Calendar: Event Reminder`."),
    ("odoo.modules.registry", "Registry loaded in {sec}s"),
    ("odoo.addons.mail.models.mail_mail", "Mail with ID {id} successfully sent"),
    ("odoo.models.unlink", "User #{uid} deleted ir.attachment records: [{id}]"),
    ("odoo.addons.base.models.ir_attachment", "_read_file reading {path}"),
]
WARNINGS = [
    ("odoo.models", "Record res.partner({id},) has no display name"),
    ("odoo.addons.base.models.ir_ui_view", "Field 'x_legacy_{n}' is deprecated"),
    ("odoo.http", "Session expired for user {uid} from {ip}"),
    ("odoo.addons.mail.models.mail_thread", "Routing mail with Message-Id <{hex}@x>"),
    ("odoo.sql_db", "bad query took {sec}s: SELECT id FROM stock_move WHERE id = {id}"),
]
# INFO lines whose message holds level words: not warnings nor errors.
MENTIONS = [
    (
        "odoo.addons.base.models.ir_cron",
        "Job 'Log digest: ERROR and WARNING counts' done",
    ),
    ("werkzeug", '10.0.0.{n} - - "GET /web/static/img/ERROR.png HTTP/1.1" 200 -'),
]
ERRORS = [
    ("odoo.http", "Exception during request handling.", "odoo.exceptions.UserError"),
    ("odoo.addons.stock.models.stock_move", "Move {id} failed", "KeyError"),
    ("odoo.sql_db", "bad query: INSERT INTO x", "psycopg2.errors.UniqueViolation"),
]
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/opt/odoo/odoo/http.py", line 2375, in __call__\n'
    "    response = request._serve_db()\n"
    '  File "/opt/odoo/odoo/service/model.py", line 133, in retrying\n'
    "    result = func()\n"
    '  File "/opt/odoo/addons/stock/models/stock_move.py", line {n}, in _action\n'
    "    raise error\n"
    "{exc}: record {id} cannot be processed\n"
)


def generate(path, size):
    """Write about ``size`` bytes of Odoo log to ``path``; return line counts."""
    rng = random.Random(18)
    stamp = time.mktime((2026, 11, 27, 0, 0, 0, 0, 0, 0))
    counts = {"lines": 0, "WARNING": 0, "ERROR": 0}
    with open(path, "w", buffering=4 * 1024 * 1024) as out:
        while out.tell() < size:
            block = []
            for _ in range(5000):
                stamp += rng.random() * 0.05
                head = "{},{:03d} {} ".format(
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)),
                    int(stamp * 1000) % 1000,
                    rng.choice((4211, 4212, 4213, 4214)),
                )
                roll = rng.random()
                values = {
                    "id": rng.randint(1, 999_999),
                    "uid": rng.randint(2, 300),
                    "n": rng.randint(1, 900),
                    "sec": round(rng.random() * 9, 3),
                    "ip": f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 254)}",
                    "hex": f"{rng.getrandbits(64):016x}",
                    "path": f"/var/lib/odoo/filestore/prod/{rng.randint(0, 255):02x}",
                }
                if roll < 0.001:
                    logger, message, exc = rng.choice(ERRORS)
                    block.append(
                        f"{head}ERROR prod {logger}: {message.format(**values)}\n"
                        + TRACEBACK.format(exc=exc, **values)
                    )
                    counts["ERROR"] += 1
                    counts["lines"] += 9
                    continue
                if roll < 0.011:
                    logger, message = rng.choice(WARNINGS)
                    level = "WARNING"
                    counts["WARNING"] += 1
                elif roll < 0.012:
                    logger, message = rng.choice(MENTIONS)
                    level = "INFO"
                elif roll < 0.2:
                    logger, message = rng.choice(INFO)
                    level = "INFO"
                else:
                    route = rng.choice(ROUTES).format(**values)
                    logger, level = "werkzeug", "INFO"
                    message = (
                        f"{values['ip']} - - [27/Nov/2026 03:39:09] "
                        f'"POST {route} HTTP/1.1" 200 - {rng.randint(1, 40)} '
                        f"{rng.random():.3f} {rng.random():.3f}"
                    )
                message = message.format(**values)
                block.append(f"{head}{level} prod {logger}: {message}\n")
                counts["lines"] += 1
            out.write("".join(block))
    return counts


def cpu_time():
    """CPU seconds of this process and of its finished children."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(
            resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
    )


def best_of(repeat, func):
    """(wall, cpu, value) of the fastest of ``repeat`` runs."""
    best = None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), cpu_time()
        value = func()
        run = (time.perf_counter() - start, cpu_time() - cpu, value)
        best = run if best is None or run[0] < best[0] else best
    return best


EXCEPTIONS = {exc for _logger, _message, exc in ERRORS}


def with_traceback(report):
    """ERROR records whose traceback was attached and named its exception."""
    return sum(
        f.count
        for f in report.findings
        if f.level == "ERROR" and f.exception_type in EXCEPTIONS
    )


def run_grep(path):
    result = subprocess.run(
        ["grep", "-c", "ERROR", path], capture_output=True, text=True, check=False
    )
    return int(result.stdout.strip() or 0)


def run_parser(path):
    def chunks():
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk

    # As check_log reads: WARNING and above, lines not counted.
    return analyse(iter_records(chunks(), min_level="WARNING", count_lines=False))


class JournalLikeContext(SimpleContext):
    """Keeps no result of the commands it runs, as the operation's journal:
    each ``dd`` read holds its 4 MiB until dropped."""

    def run(self, transport, argv, keep_output=True, **kwargs):
        return transport.run(argv, **kwargs)


def run_check_log(path):
    state = {"inode": os.stat(path).st_ino, "offset": 0, "size": 0}
    with LocalTransport() as transport:
        return check_log(JournalLikeContext(), transport, path, state, max_bytes=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=300, help="log size (MB)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    parser.add_argument("--dir", default=None, help="where to write the log")
    parser.add_argument(
        "--no-transport", action="store_true", help="skip check_log via dd"
    )
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="logcheck-bench-", dir=args.dir)
    try:
        path = os.path.join(work, "odoo.log")
        start = time.perf_counter()
        counts = generate(path, args.size_mb * MB)
        size = os.path.getsize(path)
        mb = size / MB
        print(
            f"log: {mb:.1f} MB, {counts['lines']:,} lines, {counts['WARNING']:,} "
            f"WARNING and {counts['ERROR']:,} ERROR records with tracebacks "
            f"(generated in {time.perf_counter() - start:.1f} s), "
            f"{os.cpu_count()} CPUs, best of {args.repeat}"
        )
        run_grep(path)  # page cache warm for everyone

        grep_time, grep_cpu, grep_count = best_of(args.repeat, lambda: run_grep(path))
        print(
            f"(a) grep -c ERROR:              {grep_time:7.2f} s "
            f"{mb / grep_time:8.0f} MB/s  ({grep_count:,} lines; "
            f"CPU {grep_cpu:.2f} s)"
        )
        check_time, check_cpu, report = best_of(args.repeat, lambda: run_parser(path))
        print(
            f"(b) log check (parse+analyse):  {check_time:7.2f} s "
            f"{mb / check_time:8.0f} MB/s  ({report.warnings:,} warnings, "
            f"{report.errors:,} errors, {len(report.findings)} signatures, "
            f"verdict {report.verdict}; CPU {check_cpu:.2f} s)"
        )
        print(
            f"log check / grep: {check_time / grep_time:.2f}x the time "
            f"({grep_time / check_time:.2f}x the throughput; in CPU time "
            f"{grep_cpu / check_cpu:.2f}x)"
        )
        found = [(report.warnings, report.errors, with_traceback(report))]
        if not args.no_transport:
            full_time, full_cpu, result = best_of(
                args.repeat, lambda: run_check_log(path)
            )
            print(
                f"(c) check_log, LocalTransport:  {full_time:7.2f} s "
                f"{mb / full_time:8.0f} MB/s  ({result['bytes_read'] / MB:.1f} MB "
                f"read by dd, verdict {result['verdict']}; "
                f"{full_time / grep_time:.2f}x grep's time, "
                f"{grep_time / full_time:.2f}x its throughput; "
                f"CPU {full_cpu:.2f} s with dd's)"
            )
            traced = sum(
                f["count"]
                for f in result["findings"]
                if f["level"] == "ERROR" and f["exception_type"] in EXCEPTIONS
            )
            found.append((result["warnings"], result["errors"], traced))
        expected = (counts["WARNING"], counts["ERROR"], counts["ERROR"])
        if any(one != expected for one in found):
            print(
                "MISMATCH: the log check did not find exactly the generated "
                f"records: (warnings, errors, errors with their traceback) "
                f"{found} instead of {expected}"
            )
            return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Log check: parsing Odoo's log format, signatures, verdicts, and reading
only the new part of a real log file locally and over SSH."""

import dataclasses
import os
import random
import re
import subprocess

import pytest

from ...remote.local import LocalTransport
from ...remote.ssh import SshTransport
from ...remote.tests.sshd_rig import SshdHost
from ..context import SimpleContext
from ..logcheck import (
    FIRST_READ_BYTES,
    LEVELS,
    WARNING,
    LogRecord,
    RecordScanner,
    Thresholds,
    analyse,
    check_log,
    iter_records,
    parse_records,
    read_log_increment,
    signature,
)

TRACEBACK = """\
Traceback (most recent call last):
  File "/opt/odoo/odoo/http.py", line 2375, in __call__
    response = request._serve_db()
               ^^^^^^^^^^^^^^^^^^^
  File "/opt/odoo/odoo/addons/base/models/ir_http.py", line 329, in _dispatch
    result = endpoint(**request.params)
  File "/opt/odoo/addons/sale/models/sale_order.py", line 911, in action_confirm
    raise UserError(_("Order %s is locked", self.name))
odoo.exceptions.UserError: Order S00042 is locked"""

CHAINED = """\
Traceback (most recent call last):
  File "/opt/odoo/odoo/sql_db.py", line 354, in execute
    res = self._obj.execute(query, params)
psycopg2.errors.UniqueViolation: duplicate key value violates unique constraint
DETAIL:  Key (name)=(x) already exists.

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/opt/odoo/odoo/models.py", line 4942, in _create
    cr.execute(query, params)
odoo.exceptions.ValidationError: The operation cannot be completed"""


def line(second, level, logger, message, db="prod", pid=4242):
    """One header line in Odoo's format, at 03:MM:SS on the test day."""
    time = f"2026-11-27 03:{second // 60:02d}:{second % 60:02d},123"
    return f"{time} {pid} {level} {db} {logger}: {message}\n"


def request(second, path="/web/dataset/call_kw/res.partner/read", status=200):
    return line(
        second,
        "INFO",
        "werkzeug",
        f'127.0.0.1 - - [27/Nov/2026 03:39:{second % 60:02d}] "POST {path} '
        f'HTTP/1.1" {status} - 5 0.003 0.010',
    )


def odoo_log():
    return (
        "Odoo server starting (a line before any record)\n"
        + line(1, "INFO", "odoo", "Odoo version 18.0-20261120", db="?")
        + line(2, "INFO", "odoo.modules.loading", "loading 54 modules...")
        + request(3)
        + line(
            4,
            "WARNING",
            "odoo.addons.base.models.ir_ui_view",
            "Field 'legacy_ref' on res.partner(42,) is deprecated",
        )
        + request(5, "/web/action/load")
        + line(6, "ERROR", "odoo.http", "Exception during request handling.")
        + TRACEBACK
        + "\n"
        + request(7, "/web/dataset/call_kw/sale.order/action_confirm", 200)
        + line(8, "INFO", "odoo.addons.base.models.ir_cron", "Job 'Mail: queue' done")
    )


@pytest.fixture
def local():
    with LocalTransport() as transport:
        yield transport


@pytest.fixture(scope="module")
def logcheck_host():
    with SshdHost("127.0.0.8") as rig:
        yield rig


def write(path, text, mode="a"):
    with open(path, mode) as handle:
        handle.write(text)


def errors(first, count, logger="odoo.addons.stock.models.stock_move"):
    """count ERROR records with different ids, each with a traceback."""
    return "".join(
        line(first + i, "ERROR", logger, f"Move {1000 + i} failed")
        + TRACEBACK.replace("S00042", f"S{i:05d}")
        + "\n"
        for i in range(count)
    )


def warnings(first, count):
    return "".join(
        line(first + i, "WARNING", "odoo.models", f"Record {i} has no name")
        for i in range(count)
    )


def test_parses_a_real_looking_odoo_log():
    """Headers give time, pid, level, database and logger; continuation lines
    go to the record above, with the traceback's exception type."""
    records = list(parse_records(odoo_log()))
    assert [r.level for r in records] == [
        *["INFO", "INFO", "INFO", "WARNING", "INFO", "ERROR", "INFO", "INFO"]
    ]
    first, warning, error = records[0], records[3], records[5]
    assert first.database is None and first.pid == 4242 and first.logger == "odoo"
    assert first.line_no == 2
    assert warning.message == "Field 'legacy_ref' on res.partner(42,) is deprecated"
    assert warning.traceback is None and warning.database == "prod"
    assert error.time == "2026-11-27 03:00:06,123"
    assert error.logger == "odoo.http"
    assert error.message == "Exception during request handling."
    assert error.traceback == TRACEBACK
    assert error.exception_type == "odoo.exceptions.UserError"
    assert error.line_no == 7
    assert records[6].line_no == 7 + len(TRACEBACK.splitlines()) + 1
    assert records[4].message.endswith(
        '"POST /web/action/load HTTP/1.1" 200 - 5 0.003 0.010'
    )
    # The fast path (WARNING and above) finds the same records.
    assert list(parse_records(odoo_log(), min_level="WARNING")) == [warning, error]
    # A chained traceback names its last exception; a multi-line message
    # without traceback stays the message.
    text = (
        line(1, "ERROR", "odoo.sql_db", "bad query: INSERT INTO x")
        + CHAINED
        + "\n"
        + line(2, "WARNING", "odoo.models", "first line")
        + "second line\n"
    )
    chained, multi = parse_records(text.splitlines())
    assert chained.exception_type == "odoo.exceptions.ValidationError"
    assert chained.traceback == CHAINED
    assert multi.message == "first line\nsecond line" and multi.traceback is None


def test_chunks_cut_anywhere_give_the_same_records():
    """Feeding the log in chunks cut at random bytes gives the records of the
    whole text, in both the full and the WARNING-and-above modes."""
    text = (odoo_log() + errors(100, 5) + warnings(200, 5)) * 20
    data = text.encode()
    rng = random.Random(7)
    for min_level in (None, "WARNING", "ERROR"):
        whole = list(parse_records(text, min_level=min_level))
        cuts = sorted(rng.sample(range(1, len(data)), 300))
        chunks = [
            data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)
        ]
        assert list(iter_records(chunks, min_level=min_level)) == whole
    assert len(list(parse_records(text, min_level="ERROR"))) == 20 * 6


def wanted(text):
    """The WARNING-and-above records of the full parse: what the fast path
    must find."""
    return [r for r in parse_records(text) if LEVELS.get(r.level, 0) >= WARNING]


def tricky_log():
    """Level words where a level field is not."""
    return (
        line(1, "INFO", "odoo.http", "job ERROR count: 0, WARNING count: 2")
        + line(2, "INFO", "odoo.modules", "RRR CRITICAL path, no ERROR here")
        # A database called ERROR, a logger ending in WARNING.
        + line(3, "INFO", "odoo.sql_db", "connected", db="ERROR")
        + line(4, "INFO", "odoo.WARNING", "a logger's name")
        + line(5, "WARNING", "odoo.models", "first line")
        # Continuation lines: a level word at the start, a timestamp that
        # starts no header.
        + "WARNING: the next line is not a header\n"
        + "2026-11-27 03:00:05,123 4242 ERROR prod\n"
        + line(6, "INFO", "odoo.service", "Traceback below is INFO's")
        + TRACEBACK.replace("S00042", "ERROR 42")
        + "\n"
        + line(7, "CRITICAL", "odoo.service.server", "Failed to initialize")
        + line(8, "ERROR", "odoo.http", "Exception during request handling.")
        + TRACEBACK
        + "\n"
        + line(9, "DEBUG", "odoo.sql_db", "SELECT 'ERROR' FROM x WHERE y = 'CRITICAL'")
        + line(10, "ERROR", "odoo.http", "last record, last line")
    )


def test_level_words_in_messages_are_not_levels():
    """A level word in a message, a database or logger name or a
    continuation line is not taken for the record's level: the fast path
    finds what the full parse finds, continuation lines included."""
    text = tricky_log()
    found = list(parse_records(text, min_level="WARNING"))
    assert found == wanted(text)
    assert [(r.level, r.line_no) for r in found] == [
        ("WARNING", 5),
        ("CRITICAL", 18),
        ("ERROR", 19),
        ("ERROR", 30),
    ]
    warning = found[0]
    assert warning.message == (
        "first line\nWARNING: the next line is not a header\n"
        "2026-11-27 03:00:05,123 4242 ERROR prod"
    )
    assert found[2].traceback == TRACEBACK
    assert [r.level for r in parse_records(text, min_level="ERROR")] == [
        "CRITICAL",
        "ERROR",
        "ERROR",
    ]


def test_a_level_field_cut_by_a_chunk_boundary():
    """Cut at every byte (inside a level field, on its "R", in a traceback,
    on a newline), a log in two chunks gives the records of the whole."""
    text = tricky_log() + warnings(20, 2) + errors(30, 1)
    data = text.encode()
    whole = wanted(text)
    for cut in range(1, len(data)):
        for min_level in ("WARNING", None):
            found = list(iter_records([data[:cut], data[cut:]], min_level=min_level))
            if min_level is None:
                found = [r for r in found if LEVELS.get(r.level, 0) >= WARNING]
            assert found == whole, cut


def test_a_log_full_of_capital_rs_gives_the_same_records():
    """Where capital Rs abound the fast path hands the search to a regex;
    the records are the same."""
    shouting = "ROLLBACK: REPAIR RECORD RR-%d FROM RESERVE (RETRY) PER REQUEST"
    text = "".join(
        line(i, "INFO", "odoo.sql_db", shouting % i)
        + (warnings(i, 1) if i % 97 == 0 else "")
        + (errors(i, 1) if i % 331 == 0 else "")
        for i in range(3000)
    )
    scanner = RecordScanner("WARNING")
    regex = scanner._fields_re
    searches = []

    class Spy:
        def search(self, *args):
            searches.append(args[1:])
            return regex.search(*args)

    scanner._fields_re = Spy()
    data = text.encode()
    found = scanner.feed(data[:100_000]) + scanner.feed(data[100_000:])
    found += scanner.close()
    assert searches  # the regex did the search
    assert found == wanted(text)
    assert len(found) == 31 + 10 and scanner.lines == text.count("\n")


def test_uncounted_lines_give_the_same_records_without_line_numbers():
    """The log check's scan (lines not counted) finds exactly the records of
    the counting scan, cut anywhere, with no line numbers."""
    text = tricky_log() + warnings(20, 3) + errors(30, 2) + request(40)
    data = text.encode()
    counted = RecordScanner("WARNING")
    uncounted = RecordScanner("WARNING", count_lines=False)
    expected = counted.feed(data) + counted.close()
    found = []
    for start in range(0, len(data), 37):
        found += uncounted.feed(data[start : start + 37])
    found += uncounted.close()
    assert len(found) == len(expected) >= 9
    assert [dataclasses.replace(r, line_no=None) for r in expected] == found
    assert {r.line_no for r in found} == {None} and uncounted.lines is None
    assert counted.lines == text.count("\n")


def test_signature_caches_give_what_signature_gives():
    """analyse gives each record the signature that signature() gives it,
    for messages that differ in hex words (next to times, paths, uuids,
    quotes, emails…), in digits or not at all — except that a first line
    seen before with other digits shares the earlier one's (the cache by
    message with its digits masked, as it always was)."""
    rng = random.Random(3)

    def hex_word(length):
        return "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(length))

    def filler():
        return rng.choice(
            [
                hex_word(rng.choice([4, 7, 8, 9, 12, 16, 32])),
                "-".join(
                    hex_word(length) for length in (rng.choice([8, 9]), 4, 4, 4, 12)
                ),
                f"2026-11-{rng.randint(10, 28)} 03:{rng.randint(10, 59)}",
                # Times that end inside a word.
                f"2026-11-{rng.randint(10, 28)}{hex_word(6)}",
                f"2026-11-27 03:{rng.randint(10, 59)}{hex_word(6)}",
                f"2026-11-27 03:04:05{rng.choice('.,')}{hex_word(9)}",
                f"10.0.0.{rng.randint(1, 254)}:{hex_word(8)}",
                f"{rng.randint(1, 999)}ms",
                "0x" + hex_word(10),
                "deadbeefcafe",
                str(rng.randint(0, 10**9)),
            ]
        )

    separators = [" ", "<", "-", ":", ".", ",", "/", "@", "=", "'", '"', "(", "é"]
    templates = [
        "".join(rng.choice(separators) + "{}" for _ in range(rng.randint(1, 4)))
        + rng.choice(["", "@x.org", "/", "s", ")"])
        for _ in range(60)
    ]

    def redraw(match):
        # Some long hex runs drawn again, now and then one longer.
        word = match.group(0)
        if len(word) < 8 or rng.random() < 0.3:
            return word
        return hex_word(len(word) + (rng.random() < 0.2))

    records = []
    fillers = []
    for i in range(4000):
        template = templates[i // 2 % len(templates)]
        if i % 2:  # the previous fillers redrawn
            fillers = [re.sub("[0-9a-fA-F]+", redraw, f) for f in fillers]
        else:
            fillers = [filler() for _ in range(template.count("{}"))]
        message = "Msg" + template.format(*fillers)
        records.append(
            LogRecord(
                "2026-11-27 03:00:00,000",
                1,
                "WARNING",
                "prod",
                "odoo.x",
                message,
                None,
                None,
                i,
            )
        )
    # signature() of each record, except that a first line already seen
    # with other digits shares its signature (analyse's cache: the ids of
    # "Move 1000 failed" and "Move 1001 failed" vary, the template not).
    expected = {}
    first = {}
    for record in records:
        masked = re.sub("[1-9]", "0", record.message)
        sig = first.setdefault(masked, signature(record)[0])
        expected[sig] = expected.get(sig, 0) + 1
    report = analyse(records)
    assert {f.signature: f.count for f in report.findings} == expected
    assert len(expected) > 500  # many shapes, many shared


def test_same_error_with_other_ids_is_one_signature():
    """The same error with different ids groups under one signature; another
    exception type makes another signature."""
    one, two = parse_records(errors(0, 2))
    assert signature(one) == signature(two)
    assert "<n>" in signature(one)[1] and len(signature(one)[0]) == 16
    other = parse_records(
        line(9, "ERROR", "odoo.addons.stock.models.stock_move", "Move 7 failed")
        + TRACEBACK.replace("odoo.exceptions.UserError", "KeyError")
        + "\n"
    )
    report = analyse([one, two, *other])
    assert sorted(f.count for f in report.findings) == [1, 2]
    assert {f.exception_type for f in report.findings} == {
        "odoo.exceptions.UserError",
        "KeyError",
    }
    finding = next(f for f in report.findings if f.count == 2)
    assert finding.first_seen == "2026-11-27 03:00:00"
    assert finding.last_seen == "2026-11-27 03:00:01"
    assert finding.sample_traceback.endswith("Order S00000 is locked")


def test_records_cut_by_the_reads_are_read_whole(local, tmp_path):
    """Read 100 bytes at a time, cutting level fields, lines and tracebacks,
    the log gives the findings, counts and state of a read in one piece."""
    path = str(tmp_path / "odoo.log")
    write(path, tricky_log() + warnings(20, 3) + errors(30, 2) + request(40))
    whole = check_log(SimpleContext(), local, path, None)
    ctx = SimpleContext()
    cut = check_log(ctx, local, path, None, chunk_size=100)
    reads = [c for c in ctx.commands if c.argv[0] == "dd"]
    assert len(reads) == -(-os.path.getsize(path) // 100)
    assert whole["errors"] == 5 and whole["warnings"] == 4
    for key in ("findings", "state", "records", "bytes_read", "warnings", "errors"):
        assert cut[key] == whole[key], key
    assert whole["bytes_read"] == os.path.getsize(path)


def test_new_traceback_fails_and_unchanged_log_passes(local, tmp_path):
    """A traceback appended to a real log fails the check with its
    signature; the next check from the stored state reads 0 bytes and passes."""
    path = str(tmp_path / "odoo.log")
    write(path, "".join(request(i) for i in range(50)))
    ctx = SimpleContext()
    clean = check_log(ctx, local, path, None)
    assert clean["verdict"] == "pass" and clean["findings"] == []
    assert clean["state"]["offset"] == os.path.getsize(path)
    assert ctx.steps == [
        "Locate the log file",
        "Read and analyse the new log lines",
        "Give the verdict",
    ]

    write(path, errors(60, 1) + request(61))
    failed = check_log(SimpleContext(), local, path, clean["state"])
    assert failed["verdict"] == "fail"
    assert failed["bytes_read"] == os.path.getsize(path) - clean["state"]["offset"]
    (finding,) = failed["findings"]
    assert finding["new"] and finding["level"] == "ERROR" and finding["count"] == 1
    assert finding["exception_type"] == "odoo.exceptions.UserError"
    assert finding["template"] == "Move <n> failed"
    assert finding["signature"] == signature(next(parse_records(errors(0, 1))))[0]
    assert "1 new error signature(s)." in failed["reasons"]

    unchanged = check_log(SimpleContext(), local, path, failed["state"])
    assert unchanged["verdict"] == "pass"
    assert unchanged["bytes_read"] == 0 and unchanged["records"] == 0
    assert unchanged["state"] == failed["state"]


def test_the_verdict_names_its_signatures(local, tmp_path):
    """A failed check explains itself in ``reason``: each failing reason with
    the signatures that made it — level, logger, first line with its
    variable parts replaced, exception, records, signature — and the counts
    against the thresholds; a warning reason is not part of a fail, a
    passing check has no reason."""
    path = str(tmp_path / "odoo.log")
    write(path, request(0) + errors(1, 2) + warnings(10, 1))
    known_warning = signature(next(parse_records(warnings(0, 1))))[0]

    result = check_log(
        SimpleContext(), local, path, None, [known_warning], Thresholds(max_errors=1)
    )

    assert result["verdict"] == "fail"
    (finding,) = [f for f in result["findings"] if f["level"] == "ERROR"]
    reason = result["reason"]
    assert reason.startswith("1 new error signature(s): ERROR ")
    assert "odoo.addons.stock.models.stock_move: “Move <n> failed”" in reason
    assert "(odoo.exceptions.UserError), 2 record(s)" in reason
    # Named once, though it makes both failing reasons.
    assert reason.count(f"signature {finding['signature']}") == 1
    assert reason.endswith(" 2 error record(s), more than the 1 allowed.")
    assert "warning" not in reason
    assert "Move 1000" not in reason  # the template, not one record's text

    write(path, warnings(20, 60), mode="w")
    warned = check_log(SimpleContext(), local, path, None, [known_warning])
    assert warned["verdict"] == "warn"
    assert warned["reason"].startswith(
        "60 warning record(s), more than the 50 allowed: WARNING odoo.models: "
        "“Record <n> has no name”, 60 record(s), signature "
    )
    write(path, request(30), mode="w")
    assert check_log(SimpleContext(), local, path, None)["reason"] == ""


def test_known_signatures_follow_the_thresholds(local, tmp_path):
    """Known signatures do not fail by themselves: the counts against the
    environment's thresholds give pass, warn or fail."""
    path = str(tmp_path / "odoo.log")
    write(path, errors(0, 2) + warnings(10, 3))
    records = list(parse_records(errors(0, 1) + warnings(10, 1)))
    known = [signature(r)[0] for r in records]

    def verdict(**limits):
        return check_log(
            SimpleContext(), local, path, None, known, Thresholds(**limits)
        )

    result = verdict(max_errors=5, max_warnings=10)
    assert result["verdict"] == "pass"
    assert [f["new"] for f in result["findings"]] == [False, False]
    assert [f["count"] for f in result["findings"]] == [2, 3]
    assert verdict(max_errors=5, max_warnings=2)["verdict"] == "warn"
    assert verdict(max_errors=1, max_warnings=10)["verdict"] == "fail"
    assert verdict(max_errors=None, max_warnings=None)["verdict"] == "pass"
    # Unknown, the same log warns at least, and fails on its new error.
    new = check_log(SimpleContext(), local, path, None, (), Thresholds(max_errors=5))
    assert new["verdict"] == "fail"
    lenient = Thresholds(max_errors=5, fail_on_new_error=False)
    assert check_log(SimpleContext(), local, path, None, (), lenient)["verdict"] == (
        "warn"
    )
    critical = line(30, "CRITICAL", "odoo.service.server", "Failed to initialize")
    write(path, critical)
    assert verdict(max_errors=5, max_warnings=10)["verdict"] == "fail"


@pytest.mark.parametrize("rotated_name", ["odoo.log.1", "odoo.log-20261127"])
def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(
    local, tmp_path, rotated_name
):
    """After `mv log log.1` (or a dated name) and a new log, the check reads
    the old file from its offset and the new file from 0: no line lost nor
    read twice."""
    path = str(tmp_path / "odoo.log")
    write(path, warnings(0, 10))
    first_text, state = read_log_increment(SimpleContext(), local, path, None)
    assert first_text == warnings(0, 10)
    write(path, warnings(100, 5))  # after the check, before the rotation
    os.rename(path, tmp_path / rotated_name)
    write(path, warnings(200, 4) + errors(300, 1), mode="x")
    assert os.stat(path).st_ino != state["inode"]

    text, new_state = read_log_increment(SimpleContext(), local, path, state)
    assert text == warnings(100, 5) + warnings(200, 4) + errors(300, 1)
    assert new_state == {
        "inode": os.stat(path).st_ino,
        "offset": os.path.getsize(path),
        "size": os.path.getsize(path),
    }
    result = check_log(SimpleContext(), local, path, state)
    assert result["rotated"] and not result["truncated"]
    assert result["rotated_path"] == str(tmp_path / rotated_name)
    assert result["warnings"] == 9 and result["errors"] == 1
    assert result["state"] == new_state
    # Without the old file, the new one is still read whole, and it is said.
    os.unlink(tmp_path / rotated_name)
    lost = check_log(SimpleContext(), local, path, state)
    assert lost["rotated"] and lost["warnings"] == 4 and len(lost["notes"]) == 1


def test_truncation_reads_from_the_start(local, tmp_path):
    """A log truncated in place (same inode, smaller than the offset) is read
    again from its first byte."""
    path = str(tmp_path / "odoo.log")
    write(path, warnings(0, 20))
    _text, state = read_log_increment(SimpleContext(), local, path, None)
    subprocess.run(["truncate", "-s", "0", path], check=True)
    write(path, errors(50, 1))
    text, new_state = read_log_increment(SimpleContext(), local, path, state)
    assert text == errors(50, 1)
    assert new_state["inode"] == state["inode"]
    assert new_state["offset"] == os.path.getsize(path)
    result = check_log(SimpleContext(), local, path, state)
    assert result["truncated"] and not result["rotated"]
    assert result["errors"] == 1 and result["verdict"] == "fail"


def test_a_line_being_written_is_read_whole_next_time(local, tmp_path):
    """An unfinished last line is not consumed: the next check reads it
    complete, once."""
    path = str(tmp_path / "odoo.log")
    done = warnings(0, 2)
    partial = line(5, "ERROR", "odoo.http", "half a li")
    write(path, done + partial[:-1])
    text, state = read_log_increment(SimpleContext(), local, path, None)
    assert text == done and state["offset"] == len(done.encode())
    write(path, "ne\n")
    text, state = read_log_increment(SimpleContext(), local, path, state)
    assert text == line(5, "ERROR", "odoo.http", "half a line")
    assert state["offset"] == os.path.getsize(path)


def test_first_check_of_a_big_log_reads_only_its_end(local, tmp_path):
    """Without a stored state, only the last 5 MB of a large log are read,
    starting at a whole line."""
    path = str(tmp_path / "odoo.log")
    block = "".join(request(i) for i in range(1000))
    with open(path, "w") as handle:
        handle.write(errors(0, 1))  # at the start: outside the window
        while handle.tell() < 3 * FIRST_READ_BYTES:
            handle.write(block)
        handle.write(warnings(100, 1))
    size = os.path.getsize(path)
    ctx = SimpleContext()
    result = check_log(ctx, local, path, None)
    assert result["bytes_read"] == FIRST_READ_BYTES
    assert result["state"]["offset"] == size
    assert result["errors"] == 0 and result["warnings"] == 1
    assert result["verdict"] == "warn"
    # Read in chunks below the capture's spool limit.
    assert len([c for c in ctx.commands if c.argv[0] == "dd"]) == 2
    text, _state = read_log_increment(SimpleContext(), local, path, None)
    assert text.startswith("2026-11-27 ") and len(text.encode()) < FIRST_READ_BYTES
    # A log that grew beyond max_bytes since the last check: only the newest
    # part is read, and the check says so.
    capped = check_log(
        SimpleContext(),
        local,
        path,
        {"inode": os.stat(path).st_ino, "offset": 0, "size": 0},
        max_bytes=1_000_000,
    )
    assert capped["bytes_read"] == 1_000_000
    assert capped["skipped_bytes"] == size - 1_000_000
    assert capped["warnings"] == 1 and len(capped["notes"]) == 1


def test_check_over_ssh_follows_rotation(logcheck_host, tmp_path):
    """Over SSH the check reads the same increments: a new traceback, then a
    rotated log, then nothing new."""
    path = str(tmp_path / "odoo.log")
    write(path, odoo_log())
    with SshTransport(logcheck_host.ssh_config()) as ssh:
        first = check_log(SimpleContext(), ssh, path, None)
        assert first["verdict"] == "fail"
        assert [f["exception_type"] for f in first["findings"]] == [
            "odoo.exceptions.UserError",
            None,
        ]
        write(path, errors(100, 1))
        os.rename(path, path + ".1")
        write(path, request(200) + errors(201, 1), mode="x")
        known = [f["signature"] for f in first["findings"]]
        second = check_log(
            SimpleContext(), ssh, path, first["state"], known, Thresholds(max_errors=5)
        )
        assert second["rotated"] and second["errors"] == 2
        assert second["verdict"] == "fail"  # "Move <n> failed" is new
        assert second["findings"][0]["count"] == 2
        third = check_log(SimpleContext(), ssh, path, second["state"])
        assert third["bytes_read"] == 0 and third["verdict"] == "pass"

"""Log check (J5, A2): read what an Odoo log gained since the last check,
group its warnings and errors by signature and give a verdict.

Three layers, each usable on its own:

* parsing, pure and fast: :func:`parse_records` / :func:`iter_records` turn
  Odoo's log format into :class:`LogRecord` objects, tracebacks attached;
* grouping: :func:`signature` and :func:`analyse` give a :class:`LogReport`
  with one :class:`Finding` per signature and a verdict (pass / warn / fail)
  by :class:`Thresholds`;
* reading on a host: :func:`read_log_increment` and :func:`check_log` read
  only the new part of the log through a transport, following rotation and
  truncation, and remember where they stopped in a small ``state`` dict.

Odoo forces ``TZ=UTC``, so the times of its log lines are UTC.
"""

import hashlib
import posixpath
import re
from dataclasses import dataclass, field

from ..remote.validation import validate_path
from .context import OperationFailed
from .i18n import _

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
WARNING = LEVELS["WARNING"]
ERROR = LEVELS["ERROR"]

# A first check (no state yet) reads at most the end of the log, not years
# of history.
FIRST_READ_BYTES = 5 * 1024 * 1024
# One check never reads more than this: beyond, the oldest part of the
# increment is skipped (and reported), so a log that exploded between two
# checks does not load gigabytes into the worker.
MAX_READ_BYTES = 64 * 1024 * 1024
# Bytes fetched per command. Larger reads gain nothing measurable: the
# capture's cost is per byte, the command's a few milliseconds.
CHUNK_BYTES = 4 * 1024 * 1024
# What one record keeps of its continuation lines (head and tail).
MAX_RECORD_BYTES = 64 * 1024
SAMPLE_MESSAGE_CHARS = 2000
SAMPLE_TRACEBACK_CHARS = 8 * 1024
TEMPLATE_CHARS = 300

# Odoo's format: '%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s:
# %(message)s %(perf_info)s'.
_FIELDS = (
    rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d{3})?",
    rb"\d+",
    rb"[A-Z_]+",
    rb"\S+",
    rb"\S+?",
)
_HEADER = b" ".join(b"(%s)" % f for f in _FIELDS) + rb":(?: |$)"
_HEADER_RE = re.compile(_HEADER)
# A header line whose next line is a header too (a record without
# continuation lines, most of them), in one match: _HEADER's groups then
# the message.
_SINGLE_LINE_RE = re.compile(
    b" ".join(b"(%s)" % f for f in _FIELDS)
    + rb":(?: |(?=\n))([^\n]*)\n(?="
    + b" ".join(_FIELDS)
    + rb":[ \n])"
)
_HEADER_LINE_RE = re.compile(rb"^" + _HEADER, re.MULTILINE)
_TRACEBACK_RE = re.compile(r"^Traceback \(most recent call last\):", re.MULTILINE)
_EXCEPTION_LINE_RE = re.compile(r"([A-Za-z_][\w.]*)(?::\s|:$|$)")


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log record: a header line and its continuation lines."""

    time: str
    pid: int
    level: str
    database: str | None
    logger: str
    message: str
    traceback: str | None
    exception_type: str | None
    line_no: int | None  # 1-based, in the text parsed; None when not counted


# -- parsing ---------------------------------------------------------------


class RecordScanner:
    """Incremental parser: feed it bytes in chunks of any size, get records.

    With ``min_level`` at WARNING or above it never looks at most lines:
    see :func:`_level_fields`. ``lines`` counts the complete lines seen.
    ``count_lines=False`` leaves lines uncounted on that fast path (records
    then have no ``line_no``, ``lines`` stays None): counting every newline
    costs a third of the scan, and the log check reports what it read in bytes.
    """

    def __init__(
        self, min_level=None, max_record_bytes=MAX_RECORD_BYTES, count_lines=True
    ):
        self._min_rank = LEVELS.get(min_level, 0) if min_level else 0
        self._fields = self._fields_re = None
        if self._min_rank > LEVELS["INFO"]:
            self._fields, self._fields_re = _level_fields(self._min_rank)
        self._max_record = max_record_bytes
        self._pending = b""
        self._open = None
        self._count_lines = count_lines or self._fields is None
        self.lines = 0 if self._count_lines else None
        self.bytes = 0

    def feed(self, data):
        """Parse more of the log; return the records it completed."""
        self.bytes += len(data)
        out = []
        begin = 0
        if self._pending:
            # Complete the carried line alone: no copy of the whole chunk.
            begin = data.find(b"\n") + 1
            if not begin:
                self._pending += data
                return out
            head = self._pending + data[:begin]
            out = self._scan(head, 0, len(head))
        end = data.rfind(b"\n") + 1
        self._pending = data[max(end, begin) :]
        if end > begin:
            out += self._scan(data, begin, end)
        return out

    def feed_lines(self, buf, begin=0, end=None):
        """Parse ``buf[begin:end]``, complete lines, without copying them
        (``feed`` takes chunks cut anywhere)."""
        end = len(buf) if end is None else end
        if self._pending:
            return self.feed(buf[begin:end])
        self.bytes += end - begin
        return self._scan(buf, begin, end) if end > begin else []

    def close(self):
        """The records still open at the end of the log."""
        out = []
        if self._pending:
            data, self._pending = self._pending + b"\n", b""
            out = self._scan(data, 0, len(data))
        if self._open is not None:
            out.append(self._finish(self._open))
            self._open = None
        return out

    # The scans work on buf[begin:end] (complete lines) without slicing it.
    def _scan(self, buf, begin, end):
        if self._fields is not None:
            return self._scan_wanted(buf, begin, end)
        headers = [(m.start(), m) for m in _HEADER_LINE_RE.finditer(buf, begin, end)]
        out = []
        counted, lines = begin, self.lines
        if self._open is not None:
            stop = headers[0][0] if headers else end
            self._extend(self._open, buf, begin, stop)
            if stop < end:
                out.append(self._finish(self._open))
                self._open = None
        for index, (start, match) in enumerate(headers):
            if LEVELS.get(match.group(3).decode(), 0) < self._min_rank:
                continue
            lines += buf.count(b"\n", counted, start)
            counted = start
            line_end = buf.find(b"\n", start, end)
            stop = headers[index + 1][0] if index + 1 < len(headers) else end
            record = [match, buf[match.end() : line_end], lines + 1, [], 0]
            self._extend(record, buf, line_end + 1, stop)
            if stop < end:
                out.append(self._finish(record))
            else:
                self._open = record
        self.lines = lines + buf.count(b"\n", counted, end)
        return out

    def _scan_wanted(self, buf, begin, end):
        """The fast path, for WARNING and above: see :func:`_level_fields`."""
        out = []
        pos = begin  # start of a line, at or before the next header
        if self._open is not None:
            pos = _next_header(buf, begin, end)
            self._extend(self._open, buf, begin, pos)
            if pos < end:
                out.append(self._finish(self._open))
                self._open = None
        count = self._count_lines
        counted, lines = begin, self.lines if count else -1
        fields = self._fields
        find = buf.find
        startswith = buf.startswith
        match_header = _HEADER_RE.match
        match_single = _SINGLE_LINE_RE.match
        search = None
        misses = 0
        at = pos
        while True:
            if search is None:
                at = find(b"R", at, end)
            else:
                hit = search(buf, at, end)
                at = -1 if hit is None else hit.start()
            if at < 0:
                break
            field = fields.get(buf[at - 1])
            if field is None or not startswith(field[0], at - field[1]):
                at += 1
                misses += 1
                # A log full of other capital Rs: a regex that skips them
                # in C costs less than a Python step per R.
                if not misses & 1023 and misses > (at - begin) >> 8:
                    search = self._fields_re.search
                continue
            field_start = at - field[1]
            start = buf.rfind(b"\n", pos, field_start) + 1 or pos
            match = match_single(buf, start, end)
            if match is not None and match.end(3) == field_start + field[2]:
                if count:
                    lines += buf.count(b"\n", counted, start)
                    counted = start
                out.append(_record(match, match.group(6), lines + 1 or None, None))
                at = pos = match.end()
                continue
            line_end = find(b"\n", field_start, end)
            at = line_end + 1
            match = match_header(buf, start, line_end)
            # The level field itself, not the word in a message.
            if match is None or match.end(3) != field_start + field[2]:
                continue
            if count:
                lines += buf.count(b"\n", counted, start)
                counted = start
            stop = _next_header(buf, at, end)
            record = [match, buf[match.end() : line_end], lines + 1 or None, [], 0]
            if stop > at:
                self._extend(record, buf, at, stop)
            if stop < end:
                out.append(self._finish(record))
            else:
                self._open = record
            at = pos = stop
        if count:
            self.lines = lines + buf.count(b"\n", counted, end)
        return out

    def _extend(self, record, buf, start, stop):
        if stop <= start:
            return
        parts = record[3]
        parts.append(buf[start:stop])
        record[4] += stop - start
        if record[4] > 2 * self._max_record:
            joined = b"".join(parts)
            head = self._max_record // 4
            tail = self._max_record - head
            marker = b"\n... [%d bytes left out] ...\n" % (len(joined) - head - tail)
            record[3] = [joined[:head] + marker, joined[-tail:]]
            record[4] = self._max_record

    @staticmethod
    def _finish(record):
        return _record(record[0], record[1], record[2], record[3])


def _record(match, message, line_no, parts):
    """The LogRecord of a header match, its message and continuation lines."""
    time, pid, level, database, logger = match.group(1, 2, 3, 4, 5)
    database = database.decode("utf-8", "replace")
    message = message.decode("utf-8", "replace").rstrip()
    traceback = exception_type = None
    if parts:
        rest = b"".join(parts).decode("utf-8", "replace").rstrip()
        found = _TRACEBACK_RE.search(rest)
        if found is None:
            message = f"{message}\n{rest}" if rest else message
        else:
            before = rest[: found.start()].rstrip()
            if before:
                message = f"{message}\n{before}"
            traceback = rest[found.start() :]
            exception_type = exception_type_of(traceback)
    # The header regex lets only ASCII through time, pid and level.
    return LogRecord(
        time.decode(),
        int(pid),
        level.decode(),
        None if database == "?" else database,
        logger.decode("utf-8", "replace"),
        message,
        traceback,
        exception_type,
        line_no,
    )


def _level_fields(min_rank):
    """How the fast path finds the header lines of ``min_rank`` and above.

    grep is fast because it never splits lines; the log check neither: it
    asks ``bytes.find`` (memchr) for the next capital "R", the one letter
    that WARNING, ERROR and CRITICAL share and DEBUG and INFO lack, and
    rarely found elsewhere in a log. The byte before that "R" tells which
    level field (" WARNING " …) to compare; only a line holding one is
    matched against the header regex, which tells the level field from the
    same word in a message. Returns ``{byte before the R: (field, bytes
    from the field's start to the R, to the level's end)}`` and, for a log
    where capital Rs abound, a regex with that "R" as literal prefix that
    finds the same.
    """
    fields = {}
    tails = []
    for name, rank in LEVELS.items():
        if rank < min_rank:
            continue
        at = name.index("R")
        assert at > 0 and ord(name[at - 1]) not in fields, name
        field = f" {name} ".encode()
        fields[ord(name[at - 1])] = (field, at + 1, len(field) - 1)
        tails.append(re.escape(name[at + 1 :]))
    return fields, re.compile(f"R(?:{'|'.join(tails)}) ".encode())


def _next_header(buf, pos, limit):
    """Start of the first header line in buf[pos:limit], else limit."""
    match_header = _HEADER_RE.match
    while pos < limit:
        line_end = buf.find(b"\n", pos, limit)
        if line_end == -1:
            line_end = limit
        # Continuation lines (frames, exception text) rarely start with a
        # digit: the regex only runs on those that do.
        if 48 <= buf[pos] <= 57 and match_header(buf, pos, line_end):
            return pos
        pos = line_end + 1
    return limit


def iter_records(chunks, min_level=None, count_lines=True):
    """Records from an iterable of bytes chunks cut anywhere."""
    scanner = RecordScanner(min_level, count_lines=count_lines)
    for chunk in chunks:
        yield from scanner.feed(chunk)
    yield from scanner.close()


def parse_records(lines_or_text, min_level=None):
    """Records from a log given as text (str or bytes) or as lines.

    Continuation lines (tracebacks, multi-line messages) belong to the
    record above them; lines before the first record are ignored. With
    ``min_level`` ("WARNING", "ERROR"…) only those records are returned,
    found much faster.
    """
    if isinstance(lines_or_text, str):
        chunks = [lines_or_text.encode("utf-8", "surrogateescape")]
    elif isinstance(lines_or_text, bytes | bytearray):
        chunks = [bytes(lines_or_text)]
    else:
        chunks = _line_batches(lines_or_text)
    return iter_records(chunks, min_level)


def _line_batches(lines, batch=4096):
    parts = []
    for line in lines:
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        parts.append(line if line.endswith(b"\n") else line + b"\n")
        if len(parts) >= batch:
            yield b"".join(parts)
            parts = []
    if parts:
        yield b"".join(parts)


def exception_type_of(traceback):
    """The exception named by the last ``SomeError: …`` line of a traceback
    (the one after the last frame, so chained exceptions give the last)."""
    found = None
    after_frame = False
    for line in traceback.splitlines():
        if line[:1] in (" ", "\t"):
            after_frame = True
            continue
        if after_frame:
            match = _EXCEPTION_LINE_RE.match(line)
            if match is not None:
                found = match.group(1)
        after_frame = False
    return found


# -- signatures ------------------------------------------------------------


def _path_placeholder(match):
    text = match.group(0)
    return "<path>" if any(c.isdigit() for c in text) else text


_HEX_WORD = r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
_NORMALISERS = (
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    # Quotes not glued to a word, so "can't ... don't" stays text.
    (re.compile(r"(?<!\w)'(?:[^'\\\n]|\\.)*'(?!\w)"), "'<str>'"),
    (re.compile(r'(?<!\w)"(?:[^"\\\n]|\\.)*"(?!\w)'), '"<str>"'),
    (
        re.compile(r"\b\d{4}-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)?"),
        "<time>",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"(?<![\w.])(?:/[\w.@%+~=-]*)+"), _path_placeholder),
    (
        re.compile(
            r"\b\d+(?:\.\d+)?\s?(?:ms|µs|us|ns|s|sec|secs|seconds?|"
            r"min|mins|minutes?|h|hours?)\b"
        ),
        "<duration>",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(_HEX_WORD), "<hex>"),
    (re.compile(r"\(\s*\d+(?:\s*,\s*\d+)*\s*,?\s*\)"), "(<ids>)"),
    (re.compile(r"\[\s*\d+(?:\s*,\s*\d+)*\s*,?\s*\]"), "[<ids>]"),
    (re.compile(r"(?<!\w)\d+(?:\.\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalise_message(message):
    """The first line of a message with its variable parts (numbers, ids,
    hex, quoted strings, UUIDs, numbered paths, durations, IPs, emails)
    replaced by placeholders."""
    text = message.split("\n", 1)[0]
    for regex, placeholder in _NORMALISERS:
        text = regex.sub(placeholder, text)
    return text.strip()[:TEMPLATE_CHARS]


def signature(record):
    """``(signature, template)`` of a record: a 16-hex-digit hash of logger,
    normalised message and exception type, and the readable template."""
    template = normalise_message(record.message)
    key = f"{record.logger}\x1f{template}\x1f{record.exception_type or ''}"
    return hashlib.sha1(key.encode()).hexdigest()[:16], template


# -- analysis --------------------------------------------------------------


@dataclass
class Thresholds:
    """When a log check warns or fails; None means "no limit"."""

    max_errors: int | None = 0
    max_warnings: int | None = 50
    fail_on_new_error: bool = True


@dataclass
class Finding:
    """The records of one signature."""

    signature: str
    template: str
    level: str
    logger: str
    count: int
    first_seen: str
    last_seen: str
    new: bool
    sample_message: str
    sample_traceback: str | None
    exception_type: str | None

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class LogReport:
    verdict: str
    findings: list
    records: int = 0
    warnings: int = 0
    errors: int = 0  # ERROR and CRITICAL records
    critical: int = 0
    # (verdict, message marked with _(), params, findings) explaining the
    # verdict: the findings are those that made that reason.
    reasons: list = field(default_factory=list)


_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
# Words that normalise_message turns into <hex> (a Message-Id, a token):
# another such word of the same length leaves the template as it is, as
# no normaliser before the <hex> one can take a part of such a word — but
# the time, which may end inside a word after "-", ":", "." or ",", hence
# the look-behind. Tested on random messages.
_HEX_SHAPE_RE = re.compile(r"(?<![-:.,])" + _HEX_WORD)


def _hex_shape(match):
    return "0" + "a" * (match.end() - match.start() - 1)


def _shape(first_line):
    """A message's first line with its hex words made the same."""
    return _HEX_SHAPE_RE.sub(_hex_shape, first_line)


def _bounded(text, limit):
    if text is None or len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head - 40
    left_out = len(text) - head - tail
    return f"{text[:head]}\n... [{left_out} characters left out] ...\n{text[-tail:]}"


def analyse(records, known_signatures=(), thresholds=None):
    """Group WARNING, ERROR and CRITICAL records by signature; give a verdict.

    "fail": any CRITICAL, a new ERROR signature (unless
    ``fail_on_new_error`` is off: then it warns), or more ERROR records than
    ``max_errors``; "warn": a new WARNING signature or more WARNING records
    than ``max_warnings``; else "pass". ``records`` may be a generator: it
    is read once.
    """
    thresholds = thresholds or Thresholds()
    known = set(known_signatures or ())
    groups = {}
    cache = {}
    shapes = {}
    total = warnings = errors = critical = 0
    for record in records:
        total += 1
        rank = LEVELS.get(record.level, 0)
        if rank < WARNING:
            continue
        if rank >= ERROR:
            errors += 1
            critical += rank > ERROR
        else:
            warnings += 1
        # The template seldom depends on which digits a message has (only
        # on those glued after a letter, like S00042): the same message
        # with other ids or counts shares one cache entry, and the first
        # one's signature.
        first_line = record.message.partition("\n")[0]
        key = (
            record.logger,
            first_line.encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO),
            record.exception_type,
        )
        found = cache.get(key)
        if found is None:
            if len(cache) > 50_000:
                cache.clear()
                shapes.clear()
            # Nor ever on which hex words of a length (see _HEX_SHAPE_RE):
            # a Message-Id or a token in every message.
            shape = (key[0], _shape(first_line), key[2])
            found = shapes.get(shape)
            if found is None:
                found = shapes[shape] = signature(record)
            cache[key] = found
        sig, template = found
        finding = groups.get(sig)
        seen = record.time[:19]  # as a Datetime field value
        if finding is None:
            groups[sig] = Finding(
                signature=sig,
                template=template,
                level=record.level,
                logger=record.logger,
                count=1,
                first_seen=seen,
                last_seen=seen,
                new=sig not in known,
                sample_message=_bounded(record.message, SAMPLE_MESSAGE_CHARS),
                sample_traceback=_bounded(record.traceback, SAMPLE_TRACEBACK_CHARS),
                exception_type=record.exception_type,
            )
            continue
        finding.count += 1
        if seen < finding.first_seen:
            finding.first_seen = seen
        elif seen > finding.last_seen:
            finding.last_seen = seen
        if rank > LEVELS.get(finding.level, 0):
            finding.level = record.level
        if finding.sample_traceback is None and record.traceback:
            finding.sample_traceback = _bounded(
                record.traceback, SAMPLE_TRACEBACK_CHARS
            )
    findings = sorted(
        groups.values(),
        key=lambda f: (-LEVELS.get(f.level, 0), not f.new, -f.count, f.first_seen),
    )
    report = LogReport(
        verdict="pass",
        findings=findings,
        records=total,
        warnings=warnings,
        errors=errors,
        critical=critical,
    )
    _judge(report, thresholds)
    return report


def _judge(report, thresholds):
    def rank(finding):
        return LEVELS.get(finding.level, 0)

    critical = [f for f in report.findings if rank(f) > ERROR]
    errors = [f for f in report.findings if rank(f) >= ERROR]
    warnings = [f for f in report.findings if rank(f) < ERROR]
    new_errors = [f for f in errors if f.new]
    new_warnings = [f for f in warnings if f.new]
    reasons = report.reasons
    if report.critical:
        reasons.append(
            (
                "fail",
                _("%(count)s CRITICAL record(s)."),
                {"count": report.critical},
                critical,
            )
        )
    if new_errors:
        reasons.append(
            (
                "fail" if thresholds.fail_on_new_error else "warn",
                _("%(count)s new error signature(s)."),
                {"count": len(new_errors)},
                new_errors,
            )
        )
    if thresholds.max_errors is not None and report.errors > thresholds.max_errors:
        reasons.append(
            (
                "fail",
                _("%(count)s error record(s), more than the %(max)s allowed."),
                {"count": report.errors, "max": thresholds.max_errors},
                errors,
            )
        )
    if new_warnings:
        reasons.append(
            (
                "warn",
                _("%(count)s new warning signature(s)."),
                {"count": len(new_warnings)},
                new_warnings,
            )
        )
    if (
        thresholds.max_warnings is not None
        and report.warnings > thresholds.max_warnings
    ):
        reasons.append(
            (
                "warn",
                _("%(count)s warning record(s), more than the %(max)s allowed."),
                {"count": report.warnings, "max": thresholds.max_warnings},
                warnings,
            )
        )
    verdicts = {reason[0] for reason in reasons}
    report.verdict = (
        "fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass"
    )
    return report


# -- reading on a host -----------------------------------------------------


@dataclass
class _Segment:
    path: str
    start: int
    end: int
    current: bool  # the live log (else a rotated file, complete)
    skip_partial: bool = False  # starts mid-line: drop up to the first newline


def _valid_state(state):
    if not isinstance(state, dict):
        return None
    values = [state.get(key) for key in ("inode", "offset", "size")]
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        return state
    return None


def _run(ctx, transport, argv, **kwargs):
    # The log's content is not journaled: it would fill the journal with
    # copies of the log.
    return ctx.run(transport, argv, keep_output=False, **kwargs)


def _reason(result):
    return result.stderr_tail(3) or f"exit code {result.exit_code}"


class LogReader:
    """The new part of a log on a host, as complete lines.

    ``state`` is what the previous check returned (``{"inode", "offset",
    "size"}``) or None. Without a state only the last ``first_read`` bytes
    are read. When the inode changed the log was rotated: the rest of the
    old file (found as ``path.1`` or ``path-*`` with the old inode) is read,
    then the new file from its start. A file smaller than the offset was
    truncated: it is read from its start. ``new_state`` ends after the last
    complete line, so a line being written is read whole next time.
    """

    def __init__(
        self,
        ctx,
        transport,
        path,
        state=None,
        *,
        first_read=FIRST_READ_BYTES,
        max_bytes=MAX_READ_BYTES,
        chunk_size=CHUNK_BYTES,
        timeout=600,
    ):
        self.ctx = ctx
        self.transport = transport
        self.path = validate_path(path, "log file")
        self.state = _valid_state(state)
        self.first_read = first_read
        self.max_bytes = max_bytes
        self.chunk_size = chunk_size
        self.timeout = timeout
        self.segments = []
        self.new_state = None
        self.rotated = False
        self.truncated = False
        self.rotated_path = None
        self.bytes_read = 0
        self.skipped_bytes = 0
        self.notes = []

    @property
    def planned_bytes(self):
        return sum(seg.end - seg.start for seg in self.segments)

    def _stat(self, path):
        result = _run(
            self.ctx,
            self.transport,
            ["stat", "-L", "-c", "%i %s", "--", path],
            timeout=60,
        )
        fields = result.stdout.text().split()
        if not result.ok or len(fields) != 2 or not all(f.isdigit() for f in fields):
            raise OperationFailed(
                self.ctx.text(
                    _("The log file %(path)s cannot be read: %(reason)s"),
                    path=path,
                    reason=_reason(result),
                )
            )
        return int(fields[0]), int(fields[1])

    def _find_rotated(self, inode):
        """(path, size) of the rotated file with this inode, or None."""
        directory, base = posixpath.split(self.path)
        result = _run(
            self.ctx,
            self.transport,
            # Rotated names of logrotate: path.1 (numbered) or path-20261127
            # (dateext). Compressed ones are new files, another inode.
            [
                "find",
                "-L",
                directory or "/",
                "-maxdepth",
                "1",
                "-type",
                "f",
                "(",
                "-name",
                f"{base}.1",
                "-o",
                "-name",
                f"{base}-*",
                ")",
                "-printf",
                "%i %s %p\\n",
            ],
            timeout=60,
        )
        for line in result.stdout.text().splitlines():
            fields = line.split(" ", 2)
            if len(fields) == 3 and fields[0] == str(inode) and fields[1].isdigit():
                return fields[2], int(fields[1])
        return None

    def locate(self):
        """Stat the log (and find a rotated one) and plan what to read."""
        inode, size = self._stat(self.path)
        state = self.state
        segments = []
        if state is None:
            start = max(0, size - self.first_read)
            segments.append(_Segment(self.path, start, size, True, start > 0))
        elif state["inode"] == inode and size >= state["offset"]:
            segments.append(_Segment(self.path, state["offset"], size, True))
        elif state["inode"] == inode:
            self.truncated = True
            segments.append(_Segment(self.path, 0, size, True))
        else:
            self.rotated = True
            found = self._find_rotated(state["inode"])
            if found is None:
                self.notes.append(
                    self.ctx.text(
                        _(
                            "The log %(path)s was rotated and its previous file "
                            "was not found: lines written after the last check "
                            "and before the rotation were not read."
                        ),
                        path=self.path,
                    )
                )
            else:
                self.rotated_path, old_size = found
                old_start = state["offset"] if old_size >= state["offset"] else 0
                segments.append(_Segment(self.rotated_path, old_start, old_size, False))
            segments.append(_Segment(self.path, 0, size, True))
        self.segments = self._cap(segments)
        self.new_state = {"inode": inode, "offset": segments[-1].start, "size": size}
        return self.segments

    def _cap(self, segments):
        if self.max_bytes is None:
            return segments
        budget = self.max_bytes
        kept = []
        for seg in reversed(segments):
            length = seg.end - seg.start
            if length > budget:
                self.skipped_bytes += length - budget
                seg.start = seg.end - budget
                seg.skip_partial = budget > 0
            budget -= seg.end - seg.start
            kept.append(seg)
        if self.skipped_bytes:
            self.notes.append(
                self.ctx.text(
                    _(
                        "The log grew by more than %(max)s bytes since the last "
                        "check: its oldest %(skipped)s new bytes were not read."
                    ),
                    max=self.max_bytes,
                    skipped=self.skipped_bytes,
                )
            )
        return [seg for seg in reversed(kept) if seg.end > seg.start or seg.current]

    def chunks(self, on_progress=None):
        """Yield the planned bytes as chunks of complete lines; afterwards
        ``new_state`` says where the next check starts."""
        for buf, begin, end in self.pieces(on_progress):
            yield buf[begin:end]

    def pieces(self, on_progress=None):
        """The planned bytes as ``(buf, begin, end)``: ``buf[begin:end]``
        holds complete lines, handed over without a copy (see
        :meth:`RecordScanner.feed_lines`); afterwards ``new_state`` says
        where the next check starts."""
        if self.new_state is None:
            self.locate()
        for seg in self.segments:
            carry = b""
            drop = seg.skip_partial
            pos = seg.start
            while pos < seg.end:
                data = self._read(seg.path, pos, min(self.chunk_size, seg.end - pos))
                if not data:
                    break  # the file shrank since it was measured
                pos += len(data)
                self.bytes_read += len(data)
                if on_progress is not None:
                    on_progress(self.bytes_read, self.planned_bytes)
                begin = 0
                if drop:
                    begin = data.find(b"\n") + 1
                    drop = not begin
                    if drop:
                        continue
                if carry:
                    # The line cut by the previous read, completed alone.
                    newline = data.find(b"\n", begin) + 1
                    if not newline:
                        carry += data[begin:]
                        continue
                    line, carry = carry + data[begin:newline], b""
                    yield line, 0, len(line)
                    begin = newline
                end = data.rfind(b"\n", begin) + 1
                if end > begin:
                    yield data, begin, end
                carry = data[max(begin, end) :]
            if seg.current:
                # A line still being written is read whole next time.
                self.new_state["offset"] = pos - len(carry)
            elif carry:
                yield carry + b"\n", 0, len(carry) + 1

    def _read(self, path, offset, count):
        result = _run(
            self.ctx,
            self.transport,
            [
                "dd",
                f"if={path}",
                "bs=1M",
                f"skip={offset}",
                f"count={count}",
                "iflag=skip_bytes,count_bytes",
                "status=none",
            ],
            timeout=self.timeout,
            # All of it in the capture's head, in memory: a spool would
            # write it to a temporary file and read it back.
            capture_limits={"head_limit": count, "tail_limit": 0, "spool_limit": 0},
        )
        data = result.stdout.full_bytes()
        result.stdout.close()
        if not result.ok or data is None:
            raise OperationFailed(
                self.ctx.text(
                    _("Reading the log file %(path)s failed: %(reason)s"),
                    path=path,
                    reason=_reason(result),
                )
            )
        return data


def read_log_increment(ctx, transport, path, state, **options):
    """``(text, new_state)``: the complete lines the log gained since
    ``state`` (see :class:`LogReader`; a first check, with ``state`` None,
    reads only the last 5 MB). Prefer :func:`check_log` for large logs: it
    parses while reading instead of holding the text."""
    reader = LogReader(ctx, transport, path, state, **options)
    data = b"".join(reader.chunks())
    return data.decode("utf-8", "replace"), reader.new_state


def check_log(
    ctx, transport, path, state=None, known_signatures=(), thresholds=None, **options
):
    """Read the new part of an Odoo log on a host and judge it.

    Returns a plain dict: ``verdict`` ("pass", "warn", "fail"), ``findings``
    (one dict per signature, see :class:`Finding`), ``state`` to pass to the
    next check, ``bytes_read``, ``records`` (WARNING and above), ``lines``,
    ``rotated``, ``truncated``, ``skipped_bytes``, the counts, ``reasons``
    and ``notes`` as sentences for people, and ``reason``: the verdict
    explained with the signatures that made it (:func:`explain`). ``options`` go to
    :class:`LogReader` (``first_read``, ``max_bytes``, ``chunk_size``).
    """
    reader = LogReader(ctx, transport, path, state, **options)
    with ctx.step(_("Locate the log file")):
        ctx.progress(5, ctx.text(_("Looking at %(path)s"), path=reader.path))
        reader.locate()

    with ctx.step(_("Read and analyse the new log lines")):

        def on_progress(done, total):
            ctx.progress(
                10 + int(80 * done / max(total, 1)),
                ctx.text(
                    _("%(done)s of %(total)s MB of log read"),
                    done=round(done / 1e6, 1),
                    total=round(total / 1e6, 1),
                ),
            )

        scanner = RecordScanner(min_level="WARNING", count_lines=False)

        def records():
            for buf, begin, end in reader.pieces(on_progress):
                yield from scanner.feed_lines(buf, begin, end)
            yield from scanner.close()

        report = analyse(records(), known_signatures, thresholds)

    with ctx.step(_("Give the verdict")):
        ctx.progress(100, ctx.text(_("Log check: %(verdict)s"), verdict=report.verdict))
        return {
            "verdict": report.verdict,
            "findings": [finding.as_dict() for finding in report.findings],
            "state": reader.new_state,
            "bytes_read": reader.bytes_read,
            "skipped_bytes": reader.skipped_bytes,
            "records": report.records,
            "warnings": report.warnings,
            "errors": report.errors,
            "critical": report.critical,
            "rotated": reader.rotated,
            "truncated": reader.truncated,
            "rotated_path": reader.rotated_path,
            "reasons": [
                ctx.text(message, **params)
                for _verdict, message, params, _findings in report.reasons
            ],
            "reason": explain(ctx, report),
            "notes": reader.notes,
        }


# Signatures a reason names; the others are counted.
NAMED_FINDINGS = 5


def explain(ctx, report):
    """Why the verdict, for people: each reason of the verdict's level with
    the signatures that made it — level, logger, first line (its variable
    parts replaced, as in the signature), exception, records, signature.
    A signature is named once, under the first reason it makes. Empty for
    "pass"."""
    parts = []
    seen = set()
    for verdict, message, params, findings in report.reasons:
        if verdict != report.verdict:
            continue
        findings = [f for f in findings if f.signature not in seen]
        seen.update(f.signature for f in findings)
        named = [_finding_text(ctx, f) for f in findings[:NAMED_FINDINGS]]
        if len(findings) > NAMED_FINDINGS:
            named.append(
                ctx.text(
                    _("%(count)s other signature(s)"),
                    count=len(findings) - NAMED_FINDINGS,
                )
            )
        text = ctx.text(message, **params)
        parts.append(f"{text.rstrip('.')}: {'; '.join(named)}." if named else text)
    return " ".join(parts)


def _finding_text(ctx, finding):
    text = ctx.text(
        _("%(level)s %(logger)s: “%(line)s”"),
        level=finding.level,
        logger=finding.logger,
        line=finding.template,
    )
    if finding.exception_type:
        text += f" ({finding.exception_type})"
    return (
        text
        + ", "
        + ctx.text(
            _("%(count)s record(s), signature %(signature)s"),
            count=finding.count,
            signature=finding.signature,
        )
    )

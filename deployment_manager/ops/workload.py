"""Production's workload, hour by hour (issue 11, R1).

Read-only, from production's own database through psql on its host: how
many messages were posted (``mail_message``: chatter, tracked changes of
records, discussions) and how many times users were seen
(``res_users_log``: a row at each login), in each hour of the last weeks.
Both tables are Odoo's own and indexed on nothing we need: the query scans
them once, grouped by hour, and returns at most 168 rows a week and source.

The manager turns the hours into an hour-of-week heatmap in the reader's
time zone and looks for the quietest window there (:func:`quietest_window`),
so that the arithmetic of daylight saving stays on the manager's side.
"""

from datetime import datetime, timedelta

from .deploy_base import _fail
from .i18n import _
from .pg import run_script
from .results import WorkloadResult

SOURCES = ("messages", "logins")
MAX_WEEKS = 26
READ_TIMEOUT = 600
HOUR_FORMAT = "%Y-%m-%dT%H"

# :weeks is an integer checked by ``read_workload``. Timestamps in an Odoo
# database are UTC without a zone: "now" is taken the same way.
WORKLOAD_SQL = """\
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;
SELECT to_regclass('public.mail_message') IS NOT NULL AS dm_messages,
       to_regclass('public.res_users_log') IS NOT NULL AS dm_logins \\gset
SELECT 'since', to_char((now() AT TIME ZONE 'UTC')
                        - make_interval(weeks => :weeks), 'YYYY-MM-DD"T"HH24');
\\if :dm_messages
SELECT 'messages', to_char(date_trunc('hour', create_date), 'YYYY-MM-DD"T"HH24'),
       count(*)
  FROM mail_message
 WHERE create_date >= (now() AT TIME ZONE 'UTC') - make_interval(weeks => :weeks)
 GROUP BY 2;
\\endif
\\if :dm_logins
SELECT 'logins', to_char(date_trunc('hour', create_date), 'YYYY-MM-DD"T"HH24'),
       count(*)
  FROM res_users_log
 WHERE create_date >= (now() AT TIME ZONE 'UTC') - make_interval(weeks => :weeks)
 GROUP BY 2;
\\endif
"""


def checked_weeks(ctx, weeks):
    if not isinstance(weeks, int) or isinstance(weeks, bool):
        raise _fail(ctx, _("The number of weeks to read must be a whole number."))
    if not 1 <= weeks <= MAX_WEEKS:
        raise _fail(
            ctx,
            _("Read between 1 and %(max)s weeks of activity."),
            max=MAX_WEEKS,
        )
    return weeks


def read_workload(ctx, transport, spec, weeks=4):
    """The activity of ``spec.db_name`` in each hour of the last ``weeks``.

    Returns ``{"weeks", "since", "hours": {source: {"YYYY-MM-DDTHH": n}},
    "sources"}`` — hours in UTC, hours without activity left out; "sources"
    lists the tables found (a database without mail has no messages).
    """
    weeks = checked_weeks(ctx, weeks)
    with ctx.step(_("Read the activity of the last weeks")):
        db, lines = run_script(
            ctx,
            transport,
            spec,
            WORKLOAD_SQL,
            variables=[("weeks", weeks)],
            separator="\t",
            keep_output=False,
        )
    hours = {source: {} for source in SOURCES}
    since = None
    for line in lines:
        parts = line.split("\t")
        try:
            if parts[0] == "since" and len(parts) == 2:
                since = _hour(parts[1]).strftime(HOUR_FORMAT)
            elif parts[0] in SOURCES and len(parts) == 3:
                hours[parts[0]][_hour(parts[1]).strftime(HOUR_FORMAT)] = int(parts[2])
            else:
                raise ValueError(line)
        except ValueError:
            raise _fail(
                ctx, _("Unexpected answer from PostgreSQL for %(db)s."), db=db
            ) from None
    if since is None:
        raise _fail(ctx, _("Unexpected answer from PostgreSQL for %(db)s."), db=db)
    return WorkloadResult(
        weeks=weeks,
        since=since,
        hours=hours,
        sources=tuple(source for source in SOURCES if hours[source]),
    )


def _hour(text):
    return datetime.strptime(text, HOUR_FORMAT)


def hour_of_week_averages(result, to_local):
    """``{(weekday, hour): average activity a week}`` in local time, from a
    :class:`WorkloadResult`.

    ``to_local`` turns a naive UTC datetime into a naive local one (the
    reader's time zone). Every hour of the period counts, quiet ones too: the
    average of an hour-of-week is its total divided by the weeks read.
    """
    weeks = max(result.weeks, 1)
    totals = {(day, hour): 0.0 for day in range(7) for hour in range(24)}
    for counts in result.hours.values():
        for text, count in counts.items():
            local = to_local(_hour(text))
            totals[(local.weekday(), local.hour)] += count
    return {key: total / weeks for key, total in totals.items()}


def quietest_window(averages, candidates, hours, to_local):
    """The start among ``candidates`` (naive UTC datetimes on the hour) whose
    ``hours`` following hours have the least average activity, with that
    activity; the earliest on a tie; ``(None, None)`` without candidates."""
    best = (None, None)
    for start in candidates:
        load = 0.0
        for offset in range(hours):
            local = to_local(start + timedelta(hours=offset))
            load += averages[(local.weekday(), local.hour)]
        if best[0] is None or load < best[1] - 1e-9:
            best = (start, load)
    return best

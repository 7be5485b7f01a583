"""Production's workload read from a real database (issue 11, R1): activity
written at known hours comes back in those hours, and the quietest window
avoids them."""

import secrets
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from ...remote import LocalTransport
from ..context import OperationFailed, SimpleContext
from ..results import WorkloadResult
from ..spec import EnvironmentSpec
from ..workload import hour_of_week_averages, quietest_window, read_workload
from .pg import drop_database, psql

TABLES_SQL = """
CREATE TABLE mail_message (id serial PRIMARY KEY, create_date timestamp);
CREATE TABLE res_users_log (id serial PRIMARY KEY, create_date timestamp);
"""


def utc_now():
    # Odoo's timestamps: UTC, without a zone.
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return now.replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def database():
    db = f"dm_wl_{secrets.token_hex(4)}"
    subprocess.run(["createdb", "--", db], check=True, capture_output=True)
    try:
        psql(db, TABLES_SQL)
        yield db
    finally:
        drop_database(db)


def insert(db, table, moments):
    values = ", ".join(f"('{moment:%Y-%m-%d %H:%M:%S}')" for moment in moments)
    psql(db, f"INSERT INTO {table} (create_date) VALUES {values};")


def test_activity_comes_back_in_its_hours(database):
    """Messages and logins at known hours of the last weeks are counted in
    those hours; older activity is left out."""
    now = utc_now()
    busy = now - timedelta(days=3, hours=5)
    other = now - timedelta(days=10, hours=2)
    insert(database, "mail_message", [busy + timedelta(minutes=m) for m in range(12)])
    insert(database, "mail_message", [other, other + timedelta(minutes=59)])
    insert(database, "res_users_log", [busy + timedelta(minutes=30)] * 3)
    insert(database, "mail_message", [now - timedelta(weeks=6)])  # too old
    with LocalTransport() as transport:
        result = read_workload(
            SimpleContext(), transport, EnvironmentSpec(name="p", db_name=database), 4
        )
    key = f"{busy:%Y-%m-%dT%H}"
    assert result.hours["messages"] == {key: 12, f"{other:%Y-%m-%dT%H}": 2}
    assert result.hours["logins"] == {key: 3}
    assert result.sources == ("messages", "logins")
    assert result.weeks == 4
    assert WorkloadResult.from_json(result.to_json()) == result
    since = datetime.strptime(result.since, "%Y-%m-%dT%H")
    assert abs(since - (now - timedelta(weeks=4))) <= timedelta(hours=1)


def test_database_without_mail_has_no_messages(database):
    psql(database, "DROP TABLE mail_message;")
    insert(database, "res_users_log", [utc_now() - timedelta(hours=2)])
    with LocalTransport() as transport:
        result = read_workload(
            SimpleContext(), transport, EnvironmentSpec(name="p", db_name=database), 1
        )
    assert result.hours["messages"] == {}
    assert result.sources == ("logins",)


@pytest.mark.parametrize("weeks", [0, 27, "4; DROP TABLE x", True, 2.5])
def test_weeks_are_checked(database, weeks):
    with LocalTransport() as transport, pytest.raises(OperationFailed):
        read_workload(
            SimpleContext(),
            transport,
            EnvironmentSpec(name="p", db_name=database),
            weeks,
        )


def test_missing_database_is_a_clear_failure():
    with LocalTransport() as transport, pytest.raises(OperationFailed) as raised:
        read_workload(
            SimpleContext(),
            transport,
            EnvironmentSpec(name="p", db_name=f"dm_wl_none_{secrets.token_hex(3)}"),
            1,
        )
    assert "cannot be read" in str(raised.value)


def test_quietest_window_avoids_the_peaks():
    """Averages per hour of the week, in local time; the quietest window of
    the asked length among the candidates, the earliest on a tie."""
    # Two weeks read; Mondays 09:00 UTC and Sundays 02:00 UTC busy.
    monday = datetime(2026, 11, 16, 9)
    sunday_night = datetime(2026, 11, 22, 2)
    result = WorkloadResult(
        weeks=2,
        hours={
            "messages": {
                f"{monday:%Y-%m-%dT%H}": 40,
                f"{monday + timedelta(weeks=1):%Y-%m-%dT%H}": 20,
            },
            "logins": {f"{sunday_night:%Y-%m-%dT%H}": 8},
        },
    )
    plus_one = lambda moment: moment + timedelta(hours=1)
    averages = hour_of_week_averages(result, plus_one)
    assert averages[(0, 10)] == 30  # Monday 10:00 local: (40 + 20) / 2
    assert averages[(6, 3)] == 4
    assert sum(averages.values()) == 34
    # Candidates: every hour of Sunday 22 November from 00:00 UTC.
    candidates = [datetime(2026, 11, 22, 0) + timedelta(hours=h) for h in range(24)]
    start, load = quietest_window(averages, candidates, 3, plus_one)
    # 00:00 UTC would cover 01:00-03:59 local (the Sunday 03:00 peak); the
    # first window clear of it starts at 03:00 UTC (04:00 local).
    assert (start, load) == (datetime(2026, 11, 22, 3), 0)
    assert quietest_window(averages, [], 3, plus_one) == (None, None)

# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The typed results: what the ops layer returns reads into them whole, a
key out of place or a value of the wrong type is refused where it enters."""

import os

import pytest

from ...remote.local import LocalTransport
from ..context import SimpleContext
from ..logcheck import check_log
from ..results import (
    DeploymentResult,
    DiscoveryResult,
    LogCheckResult,
    ModuleChangesResult,
    ReplicationResult,
)
from .test_logcheck import errors, tricky_log, warnings, write


def test_a_real_log_check_reads_into_its_type(tmp_path):
    """Every key check_log returns is a field: the result round-trips, and
    the findings are typed down to their last field."""
    path = str(tmp_path / "odoo.log")
    write(path, tricky_log() + warnings(20, 3) + errors(30, 2))
    with LocalTransport() as local:
        raw = check_log(SimpleContext(), local, path, None)
    result = LogCheckResult.from_json(raw)
    assert result.to_json() == raw
    assert result.errors == raw["errors"] > 0
    assert result.findings and all(f.signature for f in result.findings)
    assert result.new_findings == result.findings  # nothing was known
    assert result.state["offset"] == os.path.getsize(path)
    assert LogCheckResult.from_json(result.to_json()) == result


def test_unknown_keys_and_wrong_types_are_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['verdikt'\]"):
        LogCheckResult.from_json({"verdikt": "pass"})
    with pytest.raises(ValueError, match="LogCheckResult.bytes_read: a whole number"):
        LogCheckResult.from_json({"bytes_read": "12"})
    with pytest.raises(ValueError, match="LogCheckResult.bytes_read: a whole number"):
        LogCheckResult.from_json({"bytes_read": True})
    with pytest.raises(ValueError, match=r"findings\[1\]: LogFinding: unknown key"):
        LogCheckResult.from_json({"findings": [{"count": 1}, {"cnt": 1}]})
    with pytest.raises(
        ValueError, match=r"modules\[0\]: DiscoveredModule.application: true or false"
    ):
        DiscoveryResult.from_json({"modules": [{"name": "sale", "application": 1}]})
    with pytest.raises(ValueError, match="a mapping is expected"):
        ReplicationResult.from_json(["database"])
    with pytest.raises(ValueError, match="tables_added: a list is expected"):
        ModuleChangesResult.from_json({"tables_added": "x_thing"})


def test_a_stored_result_reads_back_without_the_keys_it_no_longer_has():
    """JSON an earlier version stored (a log check's ``lines`` count, since
    dropped) reads back; its types are still checked."""
    stored = {"verdict": "fail", "lines": 12, "findings": [{"count": 2, "line": 4}]}
    result = LogCheckResult.from_json(stored, stored=True)
    assert result.verdict == "fail" and result.findings[0].count == 2
    with pytest.raises(ValueError, match="unknown key"):
        LogCheckResult.from_json(stored)
    with pytest.raises(ValueError, match="verdict: a text"):
        LogCheckResult.from_json({"verdict": 1}, stored=True)


def test_whole_numbers_are_numbers_and_missing_keys_take_defaults():
    result = DeploymentResult.from_json({"downtime": 7})
    assert result.downtime == 7.0 and isinstance(result.downtime, float)
    assert result.rollback_point is None and not result.rolled_back
    assert ReplicationResult.from_json({}).filestore is None


def test_a_deployment_reads_how_it_ended_from_its_state():
    """A state whose phase is rolled_back was rolled back: its rollback point
    was swapped in and is not one to keep."""
    point = {
        "database": "prod_rb_20261130",
        "filestore": "/srv/filestore/prod_rb_20261130",
        "source_database": "prod",
        "source_filestore": "/srv/filestore/prod",
        "created_at": "2026-11-30T16:00:00",
        "stamp": "20261130",
        "notes": [],
    }
    state = {
        "phase": "done",
        "versions": {"sale": "18.0.1.1"},
        "downtime": 7.25,
        "rollback_point": point,
        "notes": ["Installed."],
        "attempts": {},
    }
    done = DeploymentResult.from_state(state)
    assert not done.rolled_back
    assert done.rollback_point.database == "prod_rb_20261130"
    assert done.rollback_point.to_json() == point
    assert done.versions == {"sale": "18.0.1.1"} and done.downtime == 7.25
    rolled_back = DeploymentResult.from_state({**state, "phase": "rolled_back"})
    assert rolled_back.rolled_back
    with pytest.raises(ValueError, match="RollbackPoint: unknown key"):
        DeploymentResult.from_state({**state, "rollback_point": {"db": "x"}})

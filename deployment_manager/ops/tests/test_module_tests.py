"""The new module's tests run for real on a throwaway copy of a development
database (issue 4, operation 5): a real Odoo 18 server keeps serving the
development database while its copy is made, Odoo runs the sample module's
tests on the copy over SSH, and the copy is gone afterwards."""

import os
import subprocess

import pytest

from ...remote import SshTransport
from ...remote.tests.sshd_rig import SshdHost
from ..context import SimpleContext
from ..module_tests import parse_test_log, run_module_tests
from ..results import ModuleTestsResult
from .production import (
    ODOO,
    copy_module,
    databases_like,
    ensure_cluster,
    ensure_template,
    http_status,
    make_production,
    remove_production,
    sample,
)
from .typed_check import typed


@pytest.fixture(scope="module")
def development(tmp_path_factory):
    """A development environment whose Odoo server is running."""
    ensure_cluster()
    ensure_template()
    made = make_production(tmp_path_factory.mktemp("development"))
    for variant, module in (
        ("tested", "dm_sample_tested"),
        ("broken", "dm_sample_broken"),
    ):
        copy_module(sample(variant, module), made.addons)
    # A file in the filestore, to see the copy's hard links go away.
    os.makedirs(os.path.join(made.filestore, "ab"), exist_ok=True)
    with open(os.path.join(made.filestore, "ab", "abcdef"), "wb") as handle:
        handle.write(b"stored file")
    yield made
    remove_production(made)


@pytest.fixture(scope="module")
def dev_host():
    with SshdHost("127.0.0.20") as rig:
        yield rig


@pytest.fixture
def ssh(dev_host):
    with SshTransport(dev_host.ssh_config()) as transport:
        yield transport


def leftovers(development):
    copies = [name for name in databases_like(development.db) if "_tests_" in name]
    filestores = [
        name
        for name in os.listdir(os.path.dirname(development.filestore))
        if "_tests_" in name
    ]
    work = os.path.join(development.root, "work")
    files = [n for n in os.listdir(work) if n.startswith("module-tests-")]
    return copies, filestores, files


def by_method(result):
    return {line["method"]: line for line in result["tests"]}


def test_one_passing_one_failing_test_is_recorded_exactly(development, ssh, tmp_path):
    ctx = SimpleContext(work_dir=str(tmp_path))
    result = run_module_tests(ctx, ssh, development.spec, "dm_sample_tested")

    typed(ModuleTestsResult, result)
    assert result["verdict"] == "failed", result["errors"]
    assert result["mode"] == "install"
    assert result["errors"] == []
    assert result["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 0}
    tests = by_method(result)
    assert set(tests) == {"test_partner_is_created", "test_fails_on_purpose"}
    passed, failed = tests["test_partner_is_created"], tests["test_fails_on_purpose"]
    assert passed["status"] == "passed"
    assert passed["test_class"] == "TestSample"
    assert passed["test_module"] == "test_sample"
    # The timing report of odoo.tests.stats was read: the test made queries.
    assert passed["queries"] > 0
    assert passed["traceback"] == ""
    assert failed["status"] == "failed"
    assert failed["traceback"].startswith("Traceback (most recent call last):")
    assert "test_sample.py" in failed["traceback"]
    assert "AssertionError: 0 != 1 : this test fails on purpose" in failed["traceback"]
    assert failed["message"] == "AssertionError: 0 != 1 : this test fails on purpose"
    assert "Starting TestSample.test_partner_is_created" in result["log"]

    # The development environment is as it was: its Odoo kept serving, its
    # database never had the module, the copy and its files are gone.
    assert http_status(development.health_url) == 200
    assert development.module_state("dm_sample_tested") == (None, None)
    assert leftovers(development) == ([], [], [])
    assert os.path.exists(os.path.join(development.filestore, "ab", "abcdef"))


def test_installed_module_is_upgraded_and_tested(development, ssh, tmp_path):
    subprocess.run(
        [
            ODOO,
            "-c",
            development.config,
            "-d",
            development.db,
            "-i",
            "dm_sample_tested",
            "--stop-after-init",
            "--no-http",
            "--logfile",
            str(tmp_path / "install.log"),
        ],
        check=True,
    )
    try:
        ctx = SimpleContext(work_dir=str(tmp_path))
        result = run_module_tests(ctx, ssh, development.spec, "dm_sample_tested")
        assert result["mode"] == "upgrade"
        assert result["verdict"] == "failed"
        assert {m: t["status"] for m, t in by_method(result).items()} == {
            "test_partner_is_created": "passed",
            "test_fails_on_purpose": "failed",
        }
        # The copy was upgraded; the development database is as it was.
        assert development.module_state("dm_sample_tested")[0] == "installed"
    finally:
        # Back to a database that never had it (the module has no data).
        development.rows(
            "WITH gone AS (DELETE FROM ir_model_data WHERE module = 'base' "
            "AND name = 'module_dm_sample_tested' RETURNING 1) "
            "DELETE FROM ir_module_module WHERE name = 'dm_sample_tested' "
            "RETURNING name"
        )
    assert leftovers(development) == ([], [], [])


def test_module_that_fails_to_install_is_an_error(development, ssh, tmp_path):
    ctx = SimpleContext(work_dir=str(tmp_path))
    result = run_module_tests(ctx, ssh, development.spec, "dm_sample_broken")
    assert result["verdict"] == "error"
    assert result["tests"] == []
    missing = "External ID not found in the system: dm_sample_broken."
    assert any(missing in error for error in result["errors"]), result["errors"]
    assert development.module_state("dm_sample_broken")[0] in (None, "uninstalled")
    assert leftovers(development) == ([], [], [])


def test_upgrade_of_a_module_not_installed_is_refused(development, ssh, tmp_path):
    ctx = SimpleContext(work_dir=str(tmp_path))
    with pytest.raises(Exception, match="is not installed"):
        run_module_tests(ctx, ssh, development.spec, "dm_sample_tested", mode="upgrade")
    assert leftovers(development) == ([], [], [])


def test_bad_module_name_is_refused_before_anything(development, ssh, tmp_path):
    ctx = SimpleContext(work_dir=str(tmp_path))
    with pytest.raises(Exception, match="module"):
        run_module_tests(ctx, ssh, development.spec, "base; rm -rf /")
    assert ctx.commands == []


def test_subtests_and_class_fixtures_belong_to_their_test():
    """The parser on records shaped as Odoo 18's test runner writes them."""
    head = "2026-11-27 06:34:00,{ms} 1 {level} db odoo.addons.m.tests.test_x: "
    log = "\n".join(
        [
            head.format(ms="001", level="INFO") + "Starting TestX.test_a ...",
            head.format(ms="002", level="ERROR")
            + "FAIL: Subtest TestX.test_a (i=1)\nTraceback (most recent call last):\n"
            '  File "x.py", line 1, in test_a\nAssertionError: 1 != 2',
            head.format(ms="003", level="INFO") + "Starting TestX.test_b ...",
            head.format(ms="004", level="INFO") + "skipped TestX.test_b : not today",
            head.format(ms="005", level="ERROR")
            + "ERROR: setUpClass (odoo.addons.m.tests.test_x.TestY)\n"
            "Traceback (most recent call last):\n"
            '  File "x.py", line 9, in setUpClass\nValueError: no data',
            (
                "2026-11-27 06:34:01,000 1 ERROR db odoo.modules.loading: "
                "Module m: 1 failures, 1 errors of 2 tests"
            ),
            "2026-11-27 06:34:01,001 1 ERROR db odoo.sql_db: bad query: SELECT",
        ]
    )
    parsed = parse_test_log(log)
    lines = {line["name"]: line for line in parsed["tests"]}
    assert {name: line["status"] for name, line in lines.items()} == {
        "TestX.test_a": "failed",
        "TestX.test_b": "skipped",
        "TestY.setUpClass": "error",
    }
    assert lines["TestX.test_b"]["message"] == "not today"
    assert lines["TestY.setUpClass"]["message"] == "ValueError: no data"
    # Odoo's summary is not an error of its own; a failing query is.
    assert parsed["errors"] == ["ERROR odoo.sql_db: bad query: SELECT"]

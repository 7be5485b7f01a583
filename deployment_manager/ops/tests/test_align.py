"""Module alignment for real (issue 4, operation 4): two simulated
productions of Odoo 18 (see ``production.py``), the "source" with
dm_sample_good 18.0.1.1.0 and a module of its own, the "target" with
dm_sample_good 18.0.1.0.0; after the alignment the target has both at the
source's versions and the difference is empty.
"""

import os
import subprocess

import pytest

from ...remote import LocalTransport, SshTransport
from ...remote.tests.sshd_rig import SshdHost
from ..align import align_modules, module_difference, module_inventory
from ..context import SimpleContext
from ..deploy import install_upgrade
from ..results import ModulesAligned
from .production import (
    copy_module,
    ensure_cluster,
    ensure_template,
    git,
    http_status,
    make_production,
    remove_production,
    sample,
)
from .typed_check import typed

STAMP = "20250102030405"
EXTRA = "dm_align_extra"
EXTRA_MANIFEST = """{
    "name": "Deployment manager alignment sample",
    "version": "18.0.1.0.3",
    "license": "LGPL-3",
    "depends": ["base"],
    "installable": True,
}
"""


@pytest.fixture(scope="module")
def production_cluster():
    ensure_cluster()
    ensure_template()


@pytest.fixture
def local():
    with LocalTransport() as transport:
        yield transport


@pytest.fixture(scope="module")
def target_host():
    with SshdHost("127.0.0.18") as rig:
        yield rig


@pytest.fixture
def ssh(target_host):
    with SshTransport(target_host.ssh_config()) as transport:
        yield transport


@pytest.fixture
def ctx(tmp_path):
    return SimpleContext(str(tmp_path / "runs"))


def _write_extra_module(addons):
    module = os.path.join(addons, EXTRA)
    os.makedirs(module)
    with open(os.path.join(module, "__manifest__.py"), "w") as handle:
        handle.write(EXTRA_MANIFEST)
    with open(os.path.join(module, "__init__.py"), "w") as handle:
        handle.write("")


@pytest.fixture
def pair(production_cluster, local, tmp_path):
    """(source, target): neither server running; the source with
    dm_sample_good v1.1 and dm_align_extra installed, the target with
    dm_sample_good v1."""
    made = []
    try:
        source = make_production(tmp_path / "source", start=False)
        made.append(source)
        target = make_production(tmp_path / "target", start=False)
        made.append(target)
        setup = SimpleContext(str(tmp_path / "setup"))
        copy_module(sample("v1.1", "dm_sample_good"), source.addons)
        _write_extra_module(source.addons)
        install_upgrade(setup, local, source.spec, install=["dm_sample_good", EXTRA])
        copy_module(sample("v1", "dm_sample_good"), target.addons)
        install_upgrade(setup, local, target.spec, install=["dm_sample_good"])
        yield source, target
    finally:
        for production in made:
            remove_production(production)


def _check_aligned(report, source, target):
    before, after = report["before"], report["after"]
    assert before["to_install"] == [EXTRA]
    assert before["to_upgrade"] == ["dm_sample_good"]
    assert before["extra"] == []
    assert [
        (entry["index"], entry["source_path"], entry["target_path"])
        for entry in before["sources"]
    ] == [(0, source.addons, target.addons)]
    assert not before["empty"]
    assert after["empty"]
    assert after["to_install"] == after["to_upgrade"] == after["sources"] == []
    previous = f"{target.addons}.previous-{STAMP}"
    assert report["moved_paths"] == [previous]
    # The target's sources kept aside are the v1 ones, alone.
    assert sorted(os.listdir(previous)) == ["dm_sample_good"]
    with open(os.path.join(previous, "dm_sample_good", "__manifest__.py")) as handle:
        assert "18.0.1.0.0" in handle.read()
    assert sorted(
        name for name in os.listdir(target.addons) if not name.startswith(".")
    ) == ["dm_align_extra", "dm_sample_good"]
    # The database, read back independently.
    assert target.module_state("dm_sample_good") == ("installed", "18.0.1.1.0")
    assert target.module_state(EXTRA) == ("installed", "18.0.1.0.3")
    assert source.module_state(EXTRA) == ("installed", "18.0.1.0.3")
    # The target's server was started again and is healthy.
    assert target.is_active()
    assert http_status(target.health_url) == 200


def test_module_difference_is_pure():
    source = {
        "modules": {"base": "18.0.1.3", "a": "18.0.1.1", "b": "18.0.1.0"},
        "paths": [
            {"path": "/s/one", "exists": True, "git_commit": "c" * 40},
            {"path": "/s/two", "exists": True, "content_hash": "f" * 64},
            {"path": "/s/three", "exists": True, "content_hash": "e" * 64},
        ],
    }
    target = {
        "modules": {"base": "18.0.1.3", "a": "18.0.1.0", "z": "18.0.1.0"},
        "paths": [
            {"path": "/t/one", "exists": True, "git_commit": "c" * 40},
            {"path": "/t/two", "exists": True, "content_hash": "0" * 64},
        ],
    }
    difference = module_difference(source, target)
    assert difference["to_install"] == ["b"]
    assert difference["to_upgrade"] == ["a"]
    assert difference["extra"] == ["z"]
    assert [entry["index"] for entry in difference["sources"]] == [1, 2]
    assert difference["sources"][1]["target_path"] is None
    assert not difference["empty"]
    same = module_difference(source, source)
    assert same["empty"] and same["sources"] == []


def test_align_modules_locally(pair, local, ctx):
    """Both sides on the local host; the addons directories are not git
    checkouts, so their content hashes are compared."""
    source, target = pair
    inventory = module_inventory(ctx, local, source.spec)
    assert inventory["modules"]["dm_sample_good"] == "18.0.1.1.0"
    assert inventory["paths"][0]["git_commit"] is None
    assert len(inventory["paths"][0]["content_hash"]) == 64

    report = align_modules(ctx, local, source.spec, local, target.spec, stamp=STAMP)

    typed(ModulesAligned, report)
    _check_aligned(report, source, target)
    entry = report["before"]["sources"][0]
    assert entry["source"]["content_hash"] != entry["target"]["content_hash"]
    assert report["install"]["versions"] == {
        "dm_sample_good": "18.0.1.1.0",
        EXTRA: "18.0.1.0.3",
    }
    # A second run finds nothing to do.
    again = align_modules(ctx, local, source.spec, local, target.spec, stamp=STAMP)
    assert again["before"]["empty"] and again["moved_paths"] == []


def test_align_modules_to_an_ssh_target(pair, local, ssh, ctx):
    """Production's addons directory is a git checkout, the target is reached
    over SSH: its sources become the same checkout, at the same commit."""
    source, target = pair
    git(source.addons, "init", "-q", "-b", "main")
    with open(os.path.join(source.addons, ".gitignore"), "w") as handle:
        handle.write("__pycache__/\n")
    git(source.addons, "add", "-A")
    git(source.addons, "commit", "-q", "-m", "Production's addons")
    commit = git(source.addons, "rev-parse", "HEAD")

    report = align_modules(ctx, local, source.spec, ssh, target.spec, stamp=STAMP)

    _check_aligned(report, source, target)
    entry = report["before"]["sources"][0]
    assert entry["source"]["git_commit"] == commit
    assert entry["source"]["content_hash"] is None
    assert entry["target"]["git_commit"] is None
    head = subprocess.run(
        ["git", "-C", target.addons, "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert head == commit
    after = module_inventory(ctx, ssh, target.spec)
    assert after["paths"][0]["git_commit"] == commit
    assert after["paths"][0]["content_hash"] is None

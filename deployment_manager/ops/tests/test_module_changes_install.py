"""What a module changed, after its real installation (issue 11, S5): a
sample module that adds a table, a view, a scheduled action and a mail
template is deployed into a simulated production (deployment_run keeps a
rollback point), and the comparison with that point reports exactly those.
"""

import pytest

from ...remote import LocalTransport
from .. import deploy
from ..module_changes import module_changes, summary
from .production import (
    ensure_cluster,
    ensure_template,
    make_production,
    make_zip,
    remove_production,
    sample,
)
from .test_deploy import JournalContext

MODULE = "dm_sample_changes"


@pytest.fixture
def prod(tmp_path):
    ensure_cluster()
    ensure_template()
    made = make_production(tmp_path / "production")
    yield made
    remove_production(made)


def test_real_install_is_reported_with_exactly_its_changes(prod, tmp_path):
    ctx = JournalContext(str(tmp_path / "runs"))
    with LocalTransport() as transport:
        # mail first, as the production already had it: the comparison is
        # about the sample module alone.
        deploy.stop_odoo(ctx, transport, prod.spec)
        installed = deploy.install_upgrade(ctx, transport, prod.spec, install=["mail"])
        assert installed["ok"], installed["errors"]
        deploy.start_odoo(ctx, transport, prod.spec)
        deploy.wait_healthy(ctx, transport, prod.spec, timeout=120)

        archive = make_zip(tmp_path / "changes.zip", [sample("changes", MODULE)])
        run = deploy.deployment_run(
            ctx,
            transport,
            prod.spec,
            source={"kind": "zip", "path": archive, "addons_path": prod.addons},
        )
        assert run["phase"] == "done"
        point = run["rollback_point"]["database"]

        result = module_changes(ctx, transport, prod.spec, point, [MODULE])

    assert result["tables_added"] == ["dm_sample_change"]
    assert result["tables_dropped"] == []
    assert list(result["columns"]) == []
    assert [v["name"] for v in result["views"]["added"]] == ["dm.sample.change.form"]
    # Odoo writes the users' groups form again at each installation: a real
    # change of the database, the only view changed.
    assert [v["name"] for v in result["views"]["changed"]] in (
        [],
        ["res.users.groups"],
    )
    assert result["views"]["removed"] == []
    assert [a["name"] for a in result["access_rights"]["added"]] == [
        "dm.sample.change user"
    ]
    crons = result["scheduled_actions"]
    assert [
        (c["name"], c["model"], c["interval_number"], c["interval_type"], c["active"])
        for c in crons["added"]
    ] == [("Sample changes: send the digest", "dm.sample.change", 1, "days", True)]
    assert crons["changed"] == [] and crons["removed"] == []
    assert [t["name"] for t in result["mail_templates"]["added"]] == [
        "Sample change ready"
    ]
    assert result["mail_servers"]["added"] == []
    assert result["record_rules"]["added"] == []
    assert result["adds_scheduled_actions"] is True
    assert result["adds_outgoing_mail"] is True
    # The module's own records, by model.
    records = result["records_by_model"]
    for model in ("ir.ui.view", "ir.cron", "mail.template", "ir.model.access"):
        assert records[model]["created"] == 1, model
    assert records["ir.model"]["created"] == 1
    line = summary(result)
    assert "1 table(s) added" in line
    assert "Adds scheduled actions." in line and "Adds outgoing mail." in line

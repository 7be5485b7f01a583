# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields

from .. import ops
from ..ops.results import DiscoveryResult
from . import access
from .base import OperationKind, register
from .service_status import apply_service_states


def apply_discovery(environment, snapshot):
    """Keep the snapshot (a DiscoveryResult), fill the settings that were
    empty; return a summary."""
    _ = environment.env._
    environment.ensure_one()
    effective = snapshot.effective
    vals = {
        "discovered_at": fields.Datetime.now(),
        "odoo_version": snapshot.odoo_version or False,
        "postgres_version": snapshot.postgres_version or False,
        "database_size": snapshot.database_size or 0,
        "filestore_size": snapshot.filestore_size or 0,
        "backup_free_space": snapshot.backup_free or 0,
        "discovery_notes": "\n".join(snapshot.notes) or False,
        "module_ids": [(5, 0, 0)]
        + [
            (
                0,
                0,
                {
                    "name": m.name,
                    "version": m.version,
                    "state": m.state,
                    "application": m.application,
                    "title": m.title or False,
                },
            )
            for m in snapshot.modules
        ],
    }
    # Fill what was not set by hand; never overwrite an administrator's value.
    for field, key in (
        ("db_name", "db_name"),
        ("db_host", "db_host"),
        ("db_user", "db_user"),
        ("data_dir", "data_dir"),
        ("log_file", "log_file"),
    ):
        if not environment[field] and effective.get(key):
            vals[field] = effective[key]
    # The port is never empty (5432 by default): discovery says when the
    # configuration's was used instead, and every later operation needs it.
    if "db_port" in snapshot.connection_from_config and effective.get("db_port"):
        vals["db_port"] = effective["db_port"]
    if not environment.addons_paths and snapshot.custom_addons_paths:
        vals["addons_paths"] = "\n".join(snapshot.custom_addons_paths)
    environment.write(vals)
    services = apply_service_states(
        environment, snapshot.services, notes=list(snapshot.notes)
    )
    summary = _(
        "Odoo %(version)s, %(modules)s installed modules, database %(db)s, "
        "filestore %(fs)s. %(services)s",
        version=environment.odoo_version or "?",
        modules=len(snapshot.modules),
        db=environment.database_size_display or "?",
        fs=environment.filestore_size_display or "?",
        services=services,
    )
    if (
        snapshot.connection.get("db_password_set")
        and not environment.sudo().db_password
    ):
        # Never carried in the snapshot (users read it): a manager types it.
        summary += " " + _(
            "The configuration file holds a database password and this "
            "environment has none: a deployment manager must set it."
        )
    if snapshot.warnings:
        summary += " " + " ".join(snapshot.warnings)
    return summary


@register
class Discover(OperationKind):
    """Read what the environment runs: versions, modules, configuration, services."""

    code = "discover"
    label = "Discover"
    button = "action_discover"
    level = access.USER
    changes_target = False
    health_evidence = True
    result_type = DiscoveryResult

    def run(self, op, journal):
        return ops.discover(journal, journal.transport(), op.environment_id._spec())

    def apply_result(self, op, result):
        return apply_discovery(op.environment_id.sudo(), result)

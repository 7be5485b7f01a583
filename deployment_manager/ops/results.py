# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the operations tell back to the models, typed.

The ops functions build their results as JSON (what ``deployment.operation``
stores in ``result_data``); the operation kind turns it into one of these
(see ``OperationKind.result_type``) before anything reads it, and the models
that read a stored result later do the same. A key the ops layer renamed or
misspelt fails there, naming the field, rather than reading as nothing in a
model. The keys are the stored JSON's: results stored earlier read back.
"""

import dataclasses

from .typed import Typed

frozen = dataclasses.dataclass(frozen=True)


class Result(Typed):
    """Base of the typed results."""


# -- discover ---------------------------------------------------------------
@frozen
class DiscoveredModule(Result):
    name: str = ""
    version: str = ""
    state: str = ""
    application: bool = False
    title: str | None = None


@frozen
class DiscoveryResult(Result):
    """What discover read (``ops.discover``)."""

    notes: tuple[str, ...] = ()
    #: what a person should look at (included in ``notes``)
    warnings: tuple[str, ...] = ()
    #: the configuration's options worth showing
    config: dict = dataclasses.field(default_factory=dict)
    modules: tuple[DiscoveredModule, ...] = ()
    #: the configuration's connection settings, its password left out
    connection: dict = dataclasses.field(default_factory=dict)
    #: the settings taken from the configuration (``db_port``, …)
    connection_from_config: tuple[str, ...] = ()
    odoo_version: str | None = None
    postgres_version: str | None = None
    database_size: int | None = None
    filestore_size: int | None = None
    backup_free: int | None = None
    custom_addons_paths: tuple[str, ...] = ()
    #: ``{"odoo": state, "postgresql": state}``
    services: dict = dataclasses.field(default_factory=dict)
    #: the settings the database was read with (``db_name``, ``db_port``, …)
    effective: dict = dataclasses.field(default_factory=dict)


# -- log check --------------------------------------------------------------
@frozen
class LogFinding(Result):
    """The records of one signature in the part of the log read."""

    signature: str = ""
    template: str | None = None
    level: str | None = None
    logger: str | None = None
    count: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    #: not among the environment's known signatures before this check
    new: bool = False
    sample_message: str | None = None
    sample_traceback: str | None = None
    exception_type: str | None = None


@frozen
class LogCheckResult(Result):
    """A log check's verdict and findings (``ops.check_log``)."""

    verdict: str = "pass"
    findings: tuple[LogFinding, ...] = ()
    #: where the next check starts (inode, offset, size)
    state: dict | None = None
    bytes_read: int = 0
    skipped_bytes: int = 0
    records: int = 0
    warnings: int = 0
    errors: int = 0
    critical: int = 0
    rotated: bool = False
    truncated: bool = False
    rotated_path: str | None = None
    reasons: tuple[str, ...] = ()
    #: why the verdict, for people (names the signatures behind it)
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def new_findings(self):
        return tuple(finding for finding in self.findings if finding.new)


# -- deployment -------------------------------------------------------------
@frozen
class RollbackPoint(Result):
    """The copy taken while Odoo was stopped: what a rollback swaps in
    (``ops.rollback_point``)."""

    database: str | None = None
    filestore: str | None = None
    #: the database and filestore it was taken from
    source_database: str | None = None
    source_filestore: str | None = None
    created_at: str | None = None
    stamp: str | None = None
    notes: tuple[str, ...] = ()


@frozen
class DeploymentResult(Result):
    """How a deployment (or a decision about a failed one) ended.

    Built from the deployment's saved state (``ops.deployment_run``), which
    keeps much more, for the run itself: this is what the models read.
    """

    #: the deployed modules' versions read back after the install
    versions: dict = dataclasses.field(default_factory=dict)
    #: seconds from the stop of Odoo to healthy again
    downtime: float = 0.0
    #: the rollback point was swapped in: production is as before the stop
    rolled_back: bool = False
    rollback_point: RollbackPoint | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def from_state(cls, state):
        """From the saved state :func:`ops.deployment_run` and
        :func:`ops.resume_deployment` return (its ``phase`` says how it ended)."""
        return cls.from_json(
            {
                "versions": state.get("versions") or {},
                "downtime": state.get("downtime") or 0.0,
                "rolled_back": state.get("phase") == "rolled_back",
                "rollback_point": state.get("rollback_point") or None,
                "notes": state.get("notes") or [],
            }
        )


# -- replication ------------------------------------------------------------
@frozen
class FilestoreCopy(Result):
    """How the filestore was copied, and how much moved."""

    method: str = ""
    files_total: int = 0
    files_moved: int = 0
    bytes_moved: int = 0
    bytes_streamed: int = 0
    files_deleted: int = 0


@frozen
class ReplicationResult(Result):
    """Production copied over an environment (``ops.replicate``)."""

    database: str = ""
    replica_of: str = ""
    #: the environment's database before, kept under this name (or None)
    previous_database: str | None = None
    previous_filestore: str | None = None
    bytes_streamed: int = 0
    filestore: FilestoreCopy | None = None
    #: the neutralization's checks (``{"ok", "database", "checks"}``), or
    #: None for the recovery site, which is never neutralized
    neutralization: dict | None = None
    odoo_stopped: bool = False
    odoo_started: bool = False
    notes: tuple[str, ...] = ()


# -- what the module changed (S5) -------------------------------------------
@frozen
class ModuleChangesResult(Result):
    """Production's structure before and after the module, compared."""

    tables_added: tuple[str, ...] = ()
    tables_dropped: tuple[str, ...] = ()
    #: ``{table: {"added": [...], "dropped": [...], "altered": [...]}}``
    columns: dict = dataclasses.field(default_factory=dict)
    rows: dict = dataclasses.field(default_factory=dict)
    records_by_model: dict = dataclasses.field(default_factory=dict)
    views: dict = dataclasses.field(default_factory=dict)
    access_rights: dict = dataclasses.field(default_factory=dict)
    record_rules: dict = dataclasses.field(default_factory=dict)
    scheduled_actions: dict = dataclasses.field(default_factory=dict)
    mail_templates: dict = dataclasses.field(default_factory=dict)
    mail_servers: dict = dataclasses.field(default_factory=dict)
    parameters: dict = dataclasses.field(default_factory=dict)
    adds_scheduled_actions: bool = False
    adds_outgoing_mail: bool = False
    mail_templates_compared: bool = False
    #: the rollback point compared with, the database, the plan's modules
    before: str | None = None
    database: str | None = None
    modules: tuple[str, ...] = ()

    @property
    def changes_structure(self):
        """Tables or columns dropped, or columns altered."""
        return bool(self.tables_dropped) or any(
            part.get("dropped") or part.get("altered") for part in self.columns.values()
        )


# -- workload ---------------------------------------------------------------
@frozen
class WorkloadResult(Result):
    """Production's activity by hour over the last weeks (``ops.read_workload``)."""

    weeks: int = 0
    #: the first hour read, ``YYYY-MM-DD HH`` in UTC
    since: str | None = None
    #: ``{source: {hour: count}}``
    hours: dict = dataclasses.field(default_factory=dict)
    #: the sources that had any activity
    sources: tuple[str, ...] = ()


# -- hosts ------------------------------------------------------------------
@frozen
class ConnectionResult(Result):
    """Who the commands run as, on what system (``ops.test_connection``)."""

    user: str = ""
    system: str = ""


@frozen
class PresentedHostKey(Result):
    """The key a server presents, not trusted yet (``ops.fetch_host_key``)."""

    key_type: str = ""
    key_base64: str = ""
    fingerprint: str = ""


@frozen
class LeftoversRemoved(Result):
    """What the daily clean-up removed (``ops.remove_leftovers``)."""

    removed: tuple[str, ...] = ()
    kept_days: int = 0
    #: uploaded zips removed from the manager (added by the kind)
    attachments_removed: int = 0
    #: old copies of the environments' databases dropped (by the kind)
    databases_dropped: tuple[str, ...] = ()


# -- services, backups, restore ----------------------------------------------
@frozen
class ServiceStates(Result):
    """``{"odoo": state, "postgresql": state}`` (``ops.service_status``)."""

    services: dict = dataclasses.field(default_factory=dict)


@frozen
class BundleVerification(Result):
    """A backup bundle checked against its manifest (``ops.verify_bundle``)."""

    ok: bool = False
    problems: tuple[str, ...] = ()
    #: the parts checked
    checked: int = 0


@frozen
class BackupTaken(Result):
    """Where the bundle is, and how its verification went."""

    bundle: str = ""
    verification: BundleVerification | None = None


@frozen
class BackupDeleted(Result):
    deleted: str = ""


@frozen
class RestoreResult(Result):
    """A backup restored over an environment (``ops.restore_bundle``)."""

    database: str = ""
    previous_database: str | None = None
    previous_filestore: str | None = None
    restored_from: str = ""
    verification: BundleVerification | None = None
    bundle_database: str | None = None
    bundle_created_at: str | None = None
    odoo_stopped: bool = False
    odoo_started: bool = False
    sources_restored: bool = False
    #: why the sources were not restored, when they were not
    sources_error: str | None = None
    #: ``{addons path: where its previous content is kept}``
    previous_sources: dict = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()


@frozen
class RollbackPointDropped(Result):
    """``ops.drop_rollback_point``: the database dropped, the filestore copy removed."""

    dropped: str = ""
    filestore_removed: str | None = None


# -- from production: configuration, modules ---------------------------------
@frozen
class DriftLine(Result):
    """One option or system parameter that differs (secrets masked)."""

    key: str = ""
    source: str | None = None
    target: str | None = None


@frozen
class ConfigurationDrift(Result):
    """How an environment's configuration differs from production's (``ops.drift``)."""

    options: tuple[DriftLine, ...] = ()
    parameters: tuple[DriftLine, ...] = ()
    count: int = 0


@frozen
class ConfigurationApplied(Result):
    """Production's configuration applied (``ops.apply_configuration``)."""

    before: ConfigurationDrift | None = None
    after: ConfigurationDrift | None = None
    #: where the previous configuration file is kept
    config_backup: str | None = None
    parameters_written: int = 0
    parameters_removed: int = 0


@frozen
class ModuleDifference(Result):
    """What an environment lacks compared with production
    (``ops.module_difference``)."""

    to_install: tuple[str, ...] = ()
    to_upgrade: tuple[str, ...] = ()
    #: installed here only (left alone)
    extra: tuple[str, ...] = ()
    #: addons paths whose code differs: ``{"index", "source_path", …}``
    sources: tuple[dict, ...] = ()
    empty: bool = True


@frozen
class ModulesAligned(Result):
    """Production's modules brought to an environment (``ops.align_modules``)."""

    before: ModuleDifference | None = None
    after: ModuleDifference | None = None
    moved_paths: tuple[str, ...] = ()
    #: what the install / upgrade returned, when one ran
    install: dict | None = None


# -- tests ------------------------------------------------------------------
@frozen
class ModuleTestsResult(Result):
    """A module's tests run on a throwaway copy (``ops.run_module_tests``)."""

    module: str = ""
    mode: str | None = None
    database: str | None = None
    copy: str | None = None
    exit_code: int | None = None
    verdict: str = ""
    #: one mapping a test (module, class, method, status, duration, …)
    tests: tuple[dict, ...] = ()
    errors: tuple[str, ...] = ()
    counts: dict = dataclasses.field(default_factory=dict)
    #: the whole log: moved to an attachment, never kept in the result
    log: str = ""
    notes: tuple[str, ...] = ()
    #: the test run record made of it (set once it is recorded)
    test_run_id: int | None = None


# -- announcements ------------------------------------------------------------
@frozen
class ProductionUsersResult(Result):
    """Production's active internal users with an email
    (``ops.production_users``): the people stay on the announcement, the
    kept result has only how many there were."""

    database: str = ""
    #: ``{"login", "name", "email", "lang", "tz"}`` each; emptied once kept
    users: tuple[dict, ...] = ()
    count: int = 0


@frozen
class BannerResult(Result):
    """The announcement banner shown in production's database, or removed."""

    database: str = ""
    shown: bool = False
    text: str | None = None

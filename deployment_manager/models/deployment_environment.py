# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import re
import shlex
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..operation_kinds.access import PRODUCTION_DATA_TYPES
from ..ops.common import human_size
from ..ops.spec import EnvironmentSpec
from ..remote import (
    InvalidInput,
    split_command,
    validate_database_name,
    validate_hostname,
    validate_path,
    validate_username,
)
from .deployment_host import MANAGER_GROUP, _invalid_input_message

ENVIRONMENT_TYPES = [
    ("production", "Production"),
    ("preproduction", "Pre-production"),
    ("development", "Development"),
    ("disaster_recovery", "Disaster recovery site"),
]

HEALTH_STATES = [
    ("unknown", "Unknown"),
    ("ok", "Healthy"),
    ("warning", "Warning"),
    ("error", "Error"),
]

# Fields holding a command line, with the label used in error messages.
COMMAND_FIELDS = {
    "odoo_command": "Odoo command",
    "odoo_stop_command": "Odoo stop command",
    "odoo_start_command": "Odoo start command",
    "odoo_restart_command": "Odoo restart command",
    "odoo_status_command": "Odoo status command",
    "pg_stop_command": "PostgreSQL stop command",
    "pg_start_command": "PostgreSQL start command",
    "pg_restart_command": "PostgreSQL restart command",
    "pg_status_command": "PostgreSQL status command",
}
# What a production environment is given when its commands are left empty.
PRODUCTION_SERVICE_DEFAULTS = {
    "odoo_stop_command": "systemctl stop odoo",
    "odoo_start_command": "systemctl start odoo",
    "odoo_restart_command": "systemctl restart odoo",
    "odoo_status_command": "systemctl is-active odoo",
    "pg_stop_command": "systemctl stop postgresql",
    "pg_start_command": "systemctl start postgresql",
    "pg_restart_command": "systemctl restart postgresql",
    "pg_status_command": "systemctl is-active postgresql",
}
# The commands that change a service (status commands only read).
SERVICE_CHANGING_FIELDS = (
    "odoo_stop_command",
    "odoo_start_command",
    "odoo_restart_command",
    "pg_stop_command",
    "pg_start_command",
    "pg_restart_command",
)
PATH_FIELDS = {
    "odoo_config_path": "Configuration file",
    "data_dir": "Data directory",
    "log_file": "Log file",
    "backup_dir": "Backup directory",
}


def _next_run(previous, now, step):
    """When a schedule is next due: one step after the time it was due.

    Its cron runs up to a minute late; counting from that late run would
    skip a beat every other time. Never in the past after a long pause.
    """
    if previous and previous + step > now:
        return previous + step
    return now + step


class DeploymentEnvironment(models.Model):
    """An Odoo installation of the company: production, or one derived from it."""

    _name = "deployment.environment"
    _description = "Deployment Environment"
    _inherit = ["mail.thread", "mail.activity.mixin"]  # noqa: RUF012 - Odoo model attribute
    _order = "landscape_id, type_sequence, name"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    color = fields.Integer()
    environment_type = fields.Selection(
        ENVIRONMENT_TYPES,
        string="Type",
        required=True,
        default="development",
        tracking=True,
    )
    type_sequence = fields.Integer(compute="_compute_landscape", store=True)
    host_id = fields.Many2one(
        "deployment.host", required=True, tracking=True, ondelete="restrict"
    )
    production_id = fields.Many2one(
        "deployment.environment",
        string="Derived from",
        domain="[('environment_type', '=', 'production'), ('id', '!=', id)]",
        tracking=True,
        help="The production environment this one is a copy of.",
    )
    derived_ids = fields.One2many("deployment.environment", "production_id")
    landscape_id = fields.Many2one(
        "deployment.environment",
        string="Landscape",
        compute="_compute_landscape",
        store=True,
        recursive=True,
        help="The production environment and every environment derived from it.",
    )

    # How to operate this Odoo.
    odoo_command = fields.Char(
        default="odoo",
        required=True,
        help="The Odoo executable, e.g. 'odoo' or "
        "'/opt/odoo/venv/bin/python /opt/odoo/odoo-bin'.",
    )
    odoo_config_path = fields.Char(
        string="Configuration file", default="/etc/odoo/odoo.conf"
    )
    db_name = fields.Char(string="Database")
    db_host = fields.Char(string="Database host", help="Empty: the local socket.")
    db_port = fields.Integer(string="Database port", default=5432)
    db_user = fields.Char(string="Database user")
    db_password = fields.Char(groups=MANAGER_GROUP, copy=False, exportable=False)
    data_dir = fields.Char(
        string="Data directory",
        help="Odoo's data_dir: the filestore is in filestore/<database>.",
    )
    addons_paths = fields.Text(
        string="Custom addons paths", help="One absolute path per line."
    )
    log_file = fields.Char()
    backup_dir = fields.Char(string="Backup directory")
    # No defaults but on production (see create): on a host shared with
    # production, a default "systemctl stop odoo" of a development
    # environment would stop production's Odoo.
    odoo_stop_command = fields.Char()
    odoo_start_command = fields.Char()
    odoo_restart_command = fields.Char()
    odoo_status_command = fields.Char()
    pg_stop_command = fields.Char(string="PostgreSQL stop command")
    pg_start_command = fields.Char(string="PostgreSQL start command")
    pg_restart_command = fields.Char(string="PostgreSQL restart command")
    pg_status_command = fields.Char(string="PostgreSQL status command")
    extra_paths = fields.Text(
        string="External files",
        help="Other paths production uses (linked files): one absolute path per "
        "line, saved with every backup.",
    )
    backup_keep_count = fields.Integer(
        string="Keep the newest", default=7, help="Backups always kept, newest first."
    )
    backup_keep_days = fields.Integer(
        string="Keep for (days)",
        default=14,
        help="Older backups beyond the newest ones "
        "are deleted; the newest verified backup is always kept.",
    )
    rollback_point_keep = fields.Integer(
        string="Rollback points kept",
        default=1,
        help="Each production deployment copies the database and the filestore "
        "before it changes them. After a healthy deployment, copies beyond the "
        "newest ones kept are dropped from the host.",
    )
    copies_keep_days = fields.Integer(
        string="Keep earlier copies (days)",
        default=30,
        help="The databases operations set aside beside this environment's "
        "own — the one a restore or a replication replaced (<db>_before_<time>), "
        "the failed one a rollback replaced (<db>_failed_<time>), a replica "
        "never swapped in (<db>_replica_<time>) — and their filestores are "
        "dropped from the host once older than this, every day. 0 keeps them "
        "until someone drops them.",
    )
    rollback_point_ids = fields.One2many(
        "deployment.rollback.point",
        "environment_id",
        domain=[("state", "=", "kept")],
    )
    rollback_point_size_display = fields.Char(
        string="Held by rollback points", compute="_compute_rollback_point_size"
    )
    rollback_policy = fields.Selection(
        [("automatic", "Automatically"), ("confirm", "After a manager's decision")],
        string="Roll back a failed deployment",
        default="automatic",
        required=True,
    )
    keep_previous_database = fields.Boolean(
        string="Keep the previous copy",
        default=True,
        help="A replication keeps the database it replaces, as <db>_before_<time>.",
    )
    neutralization_rules = fields.Text(
        help="This environment's own neutralization, after Odoo's: one SQL statement "
        "per line, e.g. UPDATE fetchmail_server SET active = false",
    )
    last_replication_at = fields.Datetime(readonly=True, copy=False)
    last_replication_bytes = fields.Float(readonly=True, copy=False, digits=(20, 0))
    replication_state = fields.Selection(
        [
            ("neutralized", "Replicated and neutralized"),
            ("standby", "Replicated, in standby"),
            ("failed", "Last replication failed"),
        ],
        readonly=True,
        copy=False,
    )
    replication_scheduled = fields.Boolean(
        string="Replicate on a schedule",
        help="Keep this environment (the recovery site) close to production.",
    )
    replication_interval = fields.Integer(string="Every (hours)", default=24)
    replication_next_at = fields.Datetime(readonly=True, copy=False)
    recovery_point_limit = fields.Float(
        string="Recovery point limit (hours)",
        default=24.0,
        help="Notify when the last replication of production is older than this.",
    )
    recovery_point_age = fields.Float(
        compute="_compute_recovery_point",
        string="Recovery point age (hours)",
        help="Hours since the production data this environment holds was copied.",
    )
    recovery_point_stale = fields.Boolean(compute="_compute_recovery_point")
    stale_notified_at = fields.Datetime(readonly=True, copy=False)
    drift_checked_at = fields.Datetime(readonly=True, copy=False)
    drift_count = fields.Integer(readonly=True, copy=False)
    drift_details = fields.Text(
        readonly=True,
        copy=False,
        help="The options and system parameters that differ from production "
        "(secrets masked, the environment's own settings left out).",
    )
    backup_ids = fields.One2many("deployment.backup", "environment_id")
    backup_count = fields.Integer(compute="_compute_backup_count")
    log_check_max_errors = fields.Integer(
        string="Errors allowed",
        default=0,
        help="A log check fails beyond this many errors "
        "(a new error signature always fails).",
    )
    log_check_max_warnings = fields.Integer(
        string="Warnings allowed",
        default=50,
        help="A log check warns beyond this many warnings, "
        "or on a new warning signature.",
    )
    log_check_scheduled = fields.Boolean(
        string="Check the log regularly",
        help="Check the log file on a schedule.",
    )
    log_check_interval = fields.Integer(string="Every (minutes)", default=60)
    log_check_next_at = fields.Datetime(readonly=True, copy=False)
    log_check_position = fields.Json(
        readonly=True, copy=False, help="Where the last log check stopped."
    )
    last_log_check_at = fields.Datetime(readonly=True, copy=False)
    last_log_verdict = fields.Selection(
        [("pass", "Pass"), ("warn", "Warning"), ("fail", "Fail")],
        readonly=True,
        copy=False,
    )
    log_finding_ids = fields.One2many("deployment.log.finding", "environment_id")
    log_finding_count = fields.Integer(compute="_compute_backup_count")
    test_run_ids = fields.One2many("deployment.test.run", "environment_id")
    test_run_count = fields.Integer(compute="_compute_backup_count")
    health_url = fields.Char(
        string="Health check URL", help="e.g. https://erp.example.com/web/health"
    )

    # The last discovery: a dated snapshot of what the environment really is.
    discovered_at = fields.Datetime(readonly=True, copy=False)
    odoo_version = fields.Char(readonly=True, copy=False)
    postgres_version = fields.Char(
        string="PostgreSQL version", readonly=True, copy=False
    )
    module_ids = fields.One2many(
        "deployment.environment.module",
        "environment_id",
        string="Installed modules",
        readonly=True,
    )
    module_count = fields.Integer(compute="_compute_module_count")
    database_size = fields.Float(readonly=True, copy=False, help="Bytes.")
    filestore_size = fields.Float(readonly=True, copy=False, help="Bytes.")
    backup_free_space = fields.Float(
        readonly=True, copy=False, help="Bytes free in the backup directory."
    )
    database_size_display = fields.Char(
        compute="_compute_size_display", string="Database size"
    )
    filestore_size_display = fields.Char(
        compute="_compute_size_display", string="Filestore size"
    )
    backup_free_space_display = fields.Char(
        compute="_compute_size_display", string="Free space for backups"
    )
    odoo_service_state = fields.Char(string="Odoo service", readonly=True, copy=False)
    pg_service_state = fields.Char(
        string="PostgreSQL service", readonly=True, copy=False
    )
    discovery_notes = fields.Text(
        readonly=True, copy=False, help="What discovery could not read, and why."
    )
    health_state = fields.Selection(
        HEALTH_STATES, default="unknown", readonly=True, copy=False, tracking=True
    )

    operation_ids = fields.One2many("deployment.operation", "environment_id")
    operation_count = fields.Integer(compute="_compute_operation_count")
    active_operation_id = fields.Many2one(
        "deployment.operation", compute="_compute_operation_count"
    )

    _sql_constraints = [  # noqa: RUF012 - Odoo model attribute
        (
            "db_port_range",
            "CHECK(db_port IS NULL OR (db_port >= 0 AND db_port < 65536))",
            "The database port must be between 1 and 65535.",
        ),
    ]

    @api.depends("environment_type", "production_id", "production_id.landscape_id")
    def _compute_landscape(self):
        order = {key: index for index, (key, _label) in enumerate(ENVIRONMENT_TYPES)}
        for env in self:
            env.type_sequence = order.get(env.environment_type, 99)
            if env.environment_type == "production" or not env.production_id:
                env.landscape_id = env if env.id else False
            else:
                env.landscape_id = env.production_id

    def _compute_module_count(self):
        for env in self:
            env.module_count = len(env.module_ids)

    def _compute_operation_count(self):
        Operation = self.env["deployment.operation"]
        for env in self:
            env.operation_count = Operation.search_count(
                [("environment_id", "=", env.id)]
            )
            # Running, or due to run now: one scheduled for later (or waiting
            # for another) does not keep the environment busy meanwhile.
            env.active_operation_id = Operation.search(
                [("environment_id", "=", env.id)] + Operation._due_now_domain(),
                order="state desc, id",
                limit=1,
            )

    @api.depends("last_replication_at", "recovery_point_limit", "environment_type")
    def _compute_recovery_point(self):
        now = fields.Datetime.now()
        for env in self:
            if env.last_replication_at:
                age = (now - env.last_replication_at).total_seconds() / 3600
            else:
                age = 0.0
            env.recovery_point_age = age
            env.recovery_point_stale = bool(
                env.environment_type == "disaster_recovery"
                and env.recovery_point_limit
                and (not env.last_replication_at or age > env.recovery_point_limit)
            )

    @api.model
    def _cron_replication_schedule(self):
        """Queue the replications that are due; tell when a recovery point is stale."""
        now = fields.Datetime.now()
        Operation = self.env["deployment.operation"].with_user(
            self.env.ref("base.user_root")
        )
        due = self.search(
            [
                ("replication_scheduled", "=", True),
                ("production_id", "!=", False),
                "|",
                ("replication_next_at", "=", False),
                ("replication_next_at", "<=", now),
            ]
        )
        for env in due:
            if env.active_operation_id:
                continue  # busy: it is tried again at the next run
            Operation._request("replicate", environment=env)
            every = timedelta(hours=max(env.replication_interval, 1))
            env.replication_next_at = _next_run(env.replication_next_at, now, every)
        recovery_sites = self.search([("environment_type", "=", "disaster_recovery")])
        for env in recovery_sites.filtered("recovery_point_stale"):
            if env.stale_notified_at and (
                not env.last_replication_at
                or env.stale_notified_at > env.last_replication_at
            ):
                continue  # already told about this recovery point
            env.message_post(
                body=_(
                    "The recovery point of %(env)s is %(age)s hours old, beyond its "
                    "limit of %(limit)s hours: production changed since and a "
                    "disaster now would lose that.",
                    env=env.name,
                    age=round(env.recovery_point_age, 1)
                    if env.last_replication_at
                    else "∞",
                    limit=env.recovery_point_limit,
                ),
                subtype_xmlid="deployment_manager.mt_recovery_point_stale",
            )
            env.stale_notified_at = now

    @api.depends(
        "rollback_point_ids.database_size", "rollback_point_ids.filestore_size"
    )
    def _compute_rollback_point_size(self):
        for env in self:
            points = env.rollback_point_ids
            env.rollback_point_size_display = human_size(
                sum(points.mapped("database_size"))
                + sum(points.mapped("filestore_size"))
            )

    def _compute_backup_count(self):
        for env in self:
            env.backup_count = len(
                env.backup_ids.filtered(lambda b: b.state != "deleted")
            )
            env.log_finding_count = len(env.log_finding_ids)
            env.test_run_count = len(env.test_run_ids)

    @api.depends("database_size", "filestore_size", "backup_free_space")
    def _compute_size_display(self):
        for env in self:
            env.database_size_display = (
                human_size(env.database_size) if env.discovered_at else False
            )
            env.filestore_size_display = (
                human_size(env.filestore_size) if env.discovered_at else False
            )
            env.backup_free_space_display = (
                human_size(env.backup_free_space) if env.discovered_at else False
            )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("environment_type") == "production":
                for field, command in PRODUCTION_SERVICE_DEFAULTS.items():
                    vals.setdefault(field, command)
        return super().create(vals_list)

    @api.onchange("environment_type")
    def _onchange_environment_type(self):
        if self.environment_type == "production":
            for field, command in PRODUCTION_SERVICE_DEFAULTS.items():
                if not self[field]:
                    self[field] = command

    @api.constrains("host_id", "environment_type", *SERVICE_CHANGING_FIELDS)
    def _check_service_commands_apart(self):
        """A non-production environment never shares a service command with a
        production (or recovery site) on the same host: deploying development
        would stop production's Odoo or restart its PostgreSQL."""
        for env in self:
            others = self.with_context(active_test=False).search(
                [("host_id", "=", env.host_id.id), ("id", "!=", env.id)]
            )
            others = others.filtered(
                lambda other, env=env: (
                    other._holds_production_data() != env._holds_production_data()
                )
            )
            for other in others:
                production = other if other._holds_production_data() else env
                derived = env if production == other else other
                theirs = {_command_key(production[f]) for f in SERVICE_CHANGING_FIELDS}
                for field in SERVICE_CHANGING_FIELDS:
                    if derived[field] and _command_key(derived[field]) in theirs:
                        raise ValidationError(
                            _(
                                "%(field)s of %(env)s is a service command of "
                                "%(production)s on the same host (%(command)s): it "
                                "would act on production's services. Give %(env)s "
                                "its own service, or leave the command empty.",
                                field=derived._fields[field].get_description(self.env)[
                                    "string"
                                ],
                                env=derived.name,
                                production=production.name,
                                command=derived[field],
                            )
                        )

    @api.constrains("environment_type", "production_id")
    def _check_production_link(self):
        for env in self:
            if env.environment_type == "production" and env.production_id:
                raise ValidationError(
                    _("A production environment is not derived from another one.")
                )
            if env.production_id and env.production_id.environment_type != "production":
                raise ValidationError(
                    _(
                        "%(env)s can only be derived from a production environment.",
                        env=env.name,
                    )
                )

    @api.constrains(
        "health_url",
        "extra_paths",
        *COMMAND_FIELDS,
        *PATH_FIELDS,
        "db_name",
        "db_host",
        "db_user",
        "addons_paths",
    )
    def _check_operating_settings(self):
        for env in self:
            try:
                env._spec()
            except InvalidInput as error:
                raise ValidationError(_invalid_input_message(env, error)) from error

    # ------------------------------------------------------------------
    # What the operations need, validated
    # ------------------------------------------------------------------
    def _spec(self):
        """The environment as the plain-Python operations see it.

        Every value is validated here, so no command is ever built from an
        unchecked one.
        """
        self.ensure_one()
        env = self.sudo()
        commands = {
            field: split_command(env[field], field=label) if env[field] else []
            for field, label in COMMAND_FIELDS.items()
        }
        paths = {
            field: validate_path(env[field], field=label) if env[field] else None
            for field, label in PATH_FIELDS.items()
        }
        addons = [
            validate_path(line.strip(), field="Custom addons path")
            for line in (env.addons_paths or "").splitlines()
            if line.strip()
        ]
        if env.health_url and not re.fullmatch(
            r"https?://[^\s/]+(/\S*)?", env.health_url
        ):
            raise InvalidInput(
                "Health check URL", env.health_url, "http:// or https:// only"
            )
        for line in (env.extra_paths or "").splitlines():
            if line.strip():
                validate_path(line.strip(), field="External files path")
        return EnvironmentSpec(
            name=env.name,
            odoo_argv=commands["odoo_command"],
            config_path=paths["odoo_config_path"],
            db_name=validate_database_name(env.db_name) if env.db_name else None,
            db_host=validate_hostname(env.db_host) if env.db_host else None,
            db_port=env.db_port or None,
            db_user=validate_username(env.db_user) if env.db_user else None,
            db_password=env.db_password or None,
            data_dir=paths["data_dir"],
            addons_paths=addons,
            log_file=paths["log_file"],
            backup_dir=paths["backup_dir"],
            odoo_status_argv=commands["odoo_status_command"],
            pg_status_argv=commands["pg_status_command"],
            odoo_stop_argv=commands["odoo_stop_command"],
            odoo_start_argv=commands["odoo_start_command"],
            odoo_restart_argv=commands["odoo_restart_command"],
            pg_stop_argv=commands["pg_stop_command"],
            pg_start_argv=commands["pg_start_command"],
            pg_restart_argv=commands["pg_restart_command"],
            health_url=env.health_url or None,
            work_dir=validate_path(env.host_id.work_dir, field="Work directory"),
        )

    def _secrets(self):
        env = self.sudo()
        return [s for s in (env.db_password,) if s] + self.host_id._secrets()

    def _is_production(self):
        return self.environment_type == "production"

    def _holds_production_data(self):
        """Production, or the recovery site and its un-neutralized copy of it."""
        return self.environment_type in PRODUCTION_DATA_TYPES

    # ------------------------------------------------------------------
    # Results of operations
    # ------------------------------------------------------------------
    # ------------------------------------------------------------------
    # Actions (public: usable over XML-RPC / JSON-RPC)
    # ------------------------------------------------------------------
    def action_discover(self):
        """Queue an operation that reads the environment for real.

        The operation keeps a dated snapshot of what it read.
        """
        self.ensure_one()
        return self.env["deployment.operation"]._request("discover", environment=self)

    def action_service_status(self):
        """Queue an operation asking the services (Odoo, PostgreSQL) for their state."""
        self.ensure_one()
        if not (self.odoo_status_command or self.pg_status_command):
            raise UserError(_("Set the status commands of the services first."))
        return self.env["deployment.operation"]._request(
            "service_status", environment=self
        )

    def queue_operation(
        self,
        kind,
        params=None,
        scheduled_at=None,
        after_operation_id=None,
        after_outcome="done",
        priority="0",
    ):
        """Queue an operation on this environment; return its id.

        The external API's way (a CI pipeline, a script) to queue ahead:
        ``scheduled_at`` (UTC, "YYYY-MM-DD HH:MM:SS"): not before;
        ``after_operation_id``: only once that operation ended as
        ``after_outcome`` says ("done" or "ended"); ``priority`` "1": urgent.
        The same checks as the buttons apply, as the calling user.
        """
        self.ensure_one()
        Operation = self.env["deployment.operation"]
        after = Operation.browse(after_operation_id or [])
        if after:
            after.check_access("read")
        return Operation._enqueue(
            kind,
            environment=self,
            params=params,
            scheduled_at=fields.Datetime.to_datetime(scheduled_at) or None,
            depends_on=after or None,
            depends_on_outcome=after_outcome,
            priority=priority,
        ).id

    def _extra_paths(self):
        return [
            line.strip()
            for line in (self.extra_paths or "").splitlines()
            if line.strip()
        ]

    def action_backup(self):
        """Queue a backup bundle (J1, J2): database, filestore, config, sources."""
        self.ensure_one()
        if not self.backup_dir:
            raise UserError(_("Set the backup directory first."))
        return self.env["deployment.operation"]._request("backup", environment=self)

    def _neutralization_rules(self):
        return [
            line.strip().rstrip(";")
            for line in (self.neutralization_rules or "").splitlines()
            if line.strip() and not line.strip().startswith("--")
        ]

    def action_replicate(self):
        """Queue a replication of production into this environment (D1, S1, C2)."""
        self.ensure_one()
        if self.environment_type == "production":
            raise UserError(
                _("Production is the source of replications, not a target.")
            )
        if not self.production_id:
            raise UserError(_("Set the production this environment is derived from."))
        return self.env["deployment.operation"]._request("replicate", environment=self)

    def action_drift_report(self):
        """Queue a comparison of this environment's configuration with production's."""
        self.ensure_one()
        return self.env["deployment.operation"]._request(
            "drift_report", environment=self
        )

    def action_apply_configuration(self):
        """Queue D2 / S2: production's configuration, with this one's own settings."""
        self.ensure_one()
        if self.environment_type == "production":
            raise UserError(_("Production's configuration is the reference."))
        return self.env["deployment.operation"]._request(
            "apply_configuration", environment=self
        )

    def action_align_modules(self):
        """Queue D3 / S3: production's custom addons and modules on this environment."""
        self.ensure_one()
        if self.environment_type == "production":
            raise UserError(_("Production's modules are the reference."))
        return self.env["deployment.operation"]._request(
            "align_modules", environment=self
        )

    def action_deploy(self):
        """Open the deployment form: the sources and the modules of the day."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "deployment.run.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_environment_id": self.id},
        }

    def action_check_log(self):
        """Queue a log check (J5, A2) from where the previous one stopped."""
        self.ensure_one()
        if not self.log_file:
            raise UserError(
                _("Set the log file first (Discover reads it from the configuration).")
            )
        return self.env["deployment.operation"]._request("log_check", environment=self)

    def action_view_backups(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Backups of %s", self.name),
            "res_model": "deployment.backup",
            "view_mode": "list,form",
            "domain": [("environment_id", "=", self.id)],
        }

    def action_run_module_tests(self):
        """Open the form that queues the new module's tests on a copy (D4, D5)."""
        self.ensure_one()
        if self._holds_production_data():
            raise UserError(
                _(
                    "Tests never run on production's server: run them on the "
                    "development environment, on a copy of its replicated database."
                )
            )
        return {
            "type": "ir.actions.act_window",
            "name": _("Run a module's tests"),
            "res_model": "deployment.test.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_environment_id": self.id},
        }

    def action_view_test_runs(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Test runs of %s", self.name),
            "res_model": "deployment.test.run",
            "view_mode": "list,form",
            "domain": [("environment_id", "=", self.id)],
        }

    def action_view_log_findings(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Log findings of %s", self.name),
            "res_model": "deployment.log.finding",
            "view_mode": "list,form",
            "domain": [("environment_id", "=", self.id)],
            "context": {"search_default_not_known": 1},
        }

    @api.model
    def _cron_schedule_log_checks(self):
        """Queue the log checks that are due; a busy environment waits its turn."""
        now = fields.Datetime.now()
        due = self.search(
            [
                ("log_check_scheduled", "=", True),
                ("log_file", "!=", False),
                "|",
                ("log_check_next_at", "=", False),
                ("log_check_next_at", "<=", now),
            ]
        )
        Operation = self.env["deployment.operation"].sudo()
        for env in due:
            if env.active_operation_id:
                continue
            Operation.with_user(self.env.ref("base.user_root"))._request(
                "log_check", environment=env
            )
            every = timedelta(minutes=max(env.log_check_interval, 1))
            env.log_check_next_at = _next_run(env.log_check_next_at, now, every)

    def action_view_operations(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "deployment_manager.action_deployment_operation"
        )
        action["domain"] = [("environment_id", "=", self.id)]
        action["context"] = {"default_environment_id": self.id}
        return action

    def action_view_modules(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Modules of %s", self.name),
            "res_model": "deployment.environment.module",
            "view_mode": "list",
            "domain": [("environment_id", "=", self.id)],
        }


def _command_key(command):
    """A command line compared by its words, not its spacing."""
    try:
        return tuple(shlex.split(command or ""))
    except ValueError:
        return (command,)

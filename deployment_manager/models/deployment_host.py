# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..remote import (
    InvalidInput,
    LocalTransport,
    SshConfig,
    SshTransport,
    fingerprint,
    validate_hostname,
    validate_path,
    validate_username,
)

MANAGER_GROUP = "deployment_manager.group_deployment_manager"


def _invalid_input_message(record, error):
    return record.env._(
        "%(field)s: %(value)s is refused. Use plain names and absolute paths, "
        "without spaces, '..', shell characters or a leading '-'.",
        field=error.field,
        value=repr(error.value),
    )


class DeploymentHost(models.Model):
    """A server the manager runs commands on: over SSH, or this very machine."""

    _name = "deployment.host"
    _description = "Deployment Host"
    _inherit = ["mail.thread", "mail.activity.mixin"]  # noqa: RUF012 - Odoo model attribute
    _order = "name"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    kind = fields.Selection(
        [("local", "Local (this server)"), ("ssh", "SSH")],
        required=True,
        default="ssh",
        tracking=True,
        help="Local runs commands on the manager's own machine: the single-server "
        "setup. SSH reaches another server.",
    )
    hostname = fields.Char(tracking=True, help="DNS name or IP address of the server.")
    port = fields.Integer(default=22, tracking=True)
    username = fields.Char(default="root", tracking=True)
    auth_method = fields.Selection(
        [
            ("key", "Private key pasted here"),
            ("key_file", "Private key file on this server"),
        ],
        default="key",
        required=True,
    )
    # Secrets: managers only, never copied, never exported, never tracked.
    private_key = fields.Text(groups=MANAGER_GROUP, copy=False, exportable=False)
    passphrase = fields.Char(groups=MANAGER_GROUP, copy=False, exportable=False)
    private_key_path = fields.Char(
        groups=MANAGER_GROUP,
        help="Absolute path of the private key on the manager's own disk.",
    )
    use_sudo = fields.Boolean(
        string="Use sudo",
        tracking=True,
        help="Prefix every command with 'sudo -n': the user needs password-less sudo.",
    )
    connect_timeout = fields.Integer(
        default=10, help="Seconds to wait for the connection."
    )
    work_dir = fields.Char(
        default="/var/lib/deployment_manager",
        required=True,
        help="Directory on the host where long commands keep their run directories, "
        "so an operation can re-attach to them after the manager restarts. "
        "Created with mode 0700 if missing; refused if a user other than root or "
        "the one commands run as could change it or a directory above it. "
        "A user other than root needs one it may create, e.g. in its home.",
    )
    leftover_retention_days = fields.Integer(
        string="Keep leftovers (days)",
        default=14,
        help="Install logs, uploaded zips, modules set aside by a deployment and "
        "other files operations leave on this host are removed once older than "
        "this, every day.",
    )
    host_key_type = fields.Char(readonly=True, copy=False)
    host_key_base64 = fields.Char(readonly=True, copy=False, string="Pinned host key")
    host_key_fingerprint = fields.Char(
        compute="_compute_host_key_fingerprint", store=True, string="Pinned fingerprint"
    )
    presented_key_type = fields.Char(readonly=True, copy=False)
    presented_key_base64 = fields.Char(readonly=True, copy=False)
    presented_key_fingerprint = fields.Char(
        compute="_compute_host_key_fingerprint",
        store=True,
        string="Presented fingerprint",
    )
    key_confirmation_needed = fields.Boolean(
        compute="_compute_host_key_fingerprint", store=True
    )
    environment_ids = fields.One2many("deployment.environment", "host_id")
    operation_ids = fields.One2many("deployment.operation", "host_id")
    connection_state = fields.Selection(
        [("unknown", "Not tested"), ("ok", "Connected"), ("failed", "Failed")],
        default="unknown",
        readonly=True,
        copy=False,
    )
    connection_message = fields.Char(readonly=True, copy=False)
    connection_checked_at = fields.Datetime(readonly=True, copy=False)

    @api.depends("host_key_base64", "presented_key_base64")
    def _compute_host_key_fingerprint(self):
        for host in self:
            host.host_key_fingerprint = (
                fingerprint(host.host_key_base64) if host.host_key_base64 else False
            )
            host.presented_key_fingerprint = (
                fingerprint(host.presented_key_base64)
                if host.presented_key_base64
                else False
            )
            host.key_confirmation_needed = bool(
                host.presented_key_base64
                and host.presented_key_base64 != host.host_key_base64
            )

    @api.constrains(
        "kind", "hostname", "username", "port", "private_key_path", "work_dir"
    )
    def _check_connection_settings(self):
        for host in self.sudo():
            try:
                validate_path(host.work_dir, field=_("Work directory"))
                if host.kind != "ssh":
                    continue
                if not host.hostname:
                    raise ValidationError(_("An SSH host needs an address."))
                validate_hostname(host.hostname)
                validate_username(host.username or "")
                if host.private_key_path:
                    validate_path(host.private_key_path, field=_("Private key path"))
            except InvalidInput as error:
                raise ValidationError(_invalid_input_message(host, error)) from error
            if not 0 < host.port < 65536:
                raise ValidationError(_("The port must be between 1 and 65535."))

    def write(self, vals):
        # A host that now points somewhere else must prove its identity again.
        if {"hostname", "port", "kind"} & set(vals):
            vals = dict(
                vals,
                host_key_type=False,
                host_key_base64=False,
                presented_key_type=False,
                presented_key_base64=False,
            )
        return super().write(vals)

    # ------------------------------------------------------------------
    # Transport
    # ------------------------------------------------------------------
    def _ssh_config(self):
        self.ensure_one()
        host = self.sudo()
        return SshConfig(
            hostname=host.hostname,
            port=host.port,
            username=host.username,
            private_key=host.private_key if host.auth_method == "key" else None,
            key_path=host.private_key_path if host.auth_method == "key_file" else None,
            passphrase=host.passphrase or None,
            pinned_key_type=host.host_key_type or None,
            pinned_key_base64=host.host_key_base64 or None,
            use_sudo=host.use_sudo,
            connect_timeout=float(host.connect_timeout or 10),
        )

    def _open_transport(self):
        """A new transport to this host; the caller closes it."""
        self.ensure_one()
        if self.kind == "local":
            return LocalTransport(use_sudo=self.use_sudo)
        return SshTransport(self._ssh_config())

    def _carries_production_data(self):
        """Whether a production or recovery-site environment runs on this host.

        Archived ones count too: their data may still be on the disk.
        """
        self.ensure_one()
        return bool(
            self.env["deployment.environment"]
            .sudo()
            .with_context(active_test=False)
            .search_count(
                [
                    ("host_id", "=", self.id),
                    ("environment_type", "in", ("production", "disaster_recovery")),
                ],
                limit=1,
            )
        )

    def _secrets(self):
        """Values that must never appear in the journal, for masking."""
        host = self.sudo()
        return [s for s in (host.passphrase, host.private_key) if s]

    # ------------------------------------------------------------------
    # Actions (public: usable over XML-RPC / JSON-RPC)
    # ------------------------------------------------------------------
    def _check_manager(self):
        if not self.env.user.has_group(MANAGER_GROUP):
            raise UserError(_("Only deployment managers can do this on a host."))

    def action_fetch_host_key(self):
        """Queue an operation that reads the key the host presents, for confirmation."""
        self._check_manager()
        self.ensure_one()
        if self.kind != "ssh":
            raise UserError(_("A local host has no SSH host key."))
        return self.env["deployment.operation"]._request("fetch_host_key", host=self)

    def action_pin_host_key(self):
        """Pin the key fetched last: from now on only this key is accepted."""
        self._check_manager()
        self.ensure_one()
        if not self.presented_key_base64:
            raise UserError(_("Fetch the host key first."))
        fingerprint_text = self.presented_key_fingerprint
        self.sudo().write(
            {
                "host_key_type": self.presented_key_type,
                "host_key_base64": self.presented_key_base64,
            }
        )
        self.message_post(
            body=_(
                "Host key pinned: %(type)s %(fingerprint)s (confirmed by %(user)s).",
                type=self.host_key_type,
                fingerprint=fingerprint_text,
                user=self.env.user.name,
            )
        )
        return True

    def action_test_connection(self):
        """Queue an operation that connects and reports success or the exact reason."""
        self._check_manager()
        self.ensure_one()
        return self.env["deployment.operation"]._request("test_connection", host=self)

    def action_remove_leftovers(self):
        """Queue the removal of what operations left on this host, older than
        its retention (managers only)."""
        self._check_manager()
        self.ensure_one()
        return self.env["deployment.operation"]._request("remove_leftovers", host=self)

    @api.model
    def _cron_remove_leftovers(self):
        """Every day: each host that carries environments is cleaned, unless busy."""
        Operation = self.env["deployment.operation"]
        hosts = self.env["deployment.environment"].search([]).host_id
        for host in hosts:
            if Operation.sudo().search_count(
                [
                    ("host_id", "=", host.id),
                    ("environment_id", "=", False),
                    ("state", "in", ("queued", "running")),
                ]
            ):
                continue
            Operation._request("remove_leftovers", host=host)

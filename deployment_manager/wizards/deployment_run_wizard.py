# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..remote import InvalidInput, validate_module_name, validate_path
from ..remote.validation import validate_git_url


class DeploymentRunWizard(models.TransientModel):
    """What to deploy on the day (J1–J5): sources, modules to install or upgrade."""

    _name = "deployment.run.wizard"
    _description = "Run a deployment"

    environment_id = fields.Many2one("deployment.environment", required=True)
    source_kind = fields.Selection(
        [("zip", "Zip file"), ("git", "Git repository")], default="zip", required=True
    )
    zip_file = fields.Binary(string="Zip of the module(s)")
    zip_filename = fields.Char()
    git_url = fields.Char(string="Repository")
    git_ref = fields.Char(string="Branch, tag or commit")
    addons_path = fields.Char(
        string="Into addons path",
        required=True,
        help="The custom addons path of the environment that receives the module(s).",
    )
    install_modules = fields.Char(
        string="Install", help="Technical names, comma-separated."
    )
    upgrade_modules = fields.Char(
        string="Upgrade", help="Technical names, comma-separated."
    )
    take_backup = fields.Boolean(string="Back up first", default=True)
    check_log = fields.Boolean(string="Check the log after", default=True)
    start_at = fields.Datetime(
        string="Not before",
        help="Leave empty to deploy as soon as a worker is free; otherwise the "
        "deployment waits in the queue until this time (the environment stays "
        "free for other operations meanwhile).",
    )

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        environment = self.env["deployment.environment"].browse(
            values.get("environment_id") or self.env.context.get("active_id")
        )
        if environment.exists() and "addons_path" in fields_list:
            paths = environment._spec().addons_paths
            values.setdefault("addons_path", paths[0] if paths else False)
        return values

    def _modules(self, text):
        names = [name.strip() for name in (text or "").split(",") if name.strip()]
        try:
            return [validate_module_name(name) for name in names]
        except InvalidInput as error:
            raise UserError(
                _("%(value)s is not a module's technical name.", value=error.value)
            ) from error

    def action_confirm(self):
        """Queue the deployment run; its steps show live on the operation."""
        self.ensure_one()
        install = self._modules(self.install_modules)
        upgrade = self._modules(self.upgrade_modules)
        if not install and not upgrade:
            raise UserError(_("Name at least one module to install or upgrade."))
        try:
            addons_path = validate_path(self.addons_path, field=_("Addons path"))
        except InvalidInput as error:
            raise UserError(str(error)) from error
        own_paths = self.environment_id._spec().addons_paths
        if not own_paths:
            raise UserError(
                _(
                    "%s has no custom addons path: set it (or Discover it from the "
                    "configuration) before deploying.",
                    self.environment_id.name,
                )
            )
        if addons_path.rstrip("/") not in [p.rstrip("/") for p in own_paths]:
            raise UserError(
                _(
                    "%(path)s is not one of the custom addons paths of %(env)s "
                    "(%(paths)s): modules are only put where that Odoo loads them.",
                    path=addons_path,
                    env=self.environment_id.name,
                    paths=", ".join(own_paths),
                )
            )
        params = {
            "install": install,
            "upgrade": upgrade,
            "backup": self.take_backup,
            "log_check": self.check_log,
            "source": {"kind": self.source_kind, "addons_path": self.addons_path},
        }
        if self.source_kind == "zip":
            if not self.zip_file:
                raise UserError(_("Choose the zip file to deploy."))
            attachment = (
                self.env["ir.attachment"]
                .sudo()
                .create(
                    {
                        "name": self.zip_filename or "modules.zip",
                        "datas": self.zip_file,
                        "res_model": "deployment.environment",
                        "res_id": self.environment_id.id,
                    }
                )
            )
            params["source"]["attachment_id"] = attachment.id
        else:
            if not (self.git_url and self.git_ref):
                raise UserError(_("Give the repository and the branch, tag or commit."))
            try:
                # Before anything is stored: a token in the URL would be kept
                # with the operation and shown in its journal.
                validate_git_url(self.git_url.strip())
            except InvalidInput:
                raise UserError(
                    _(
                        "The repository URL holds credentials (a token or a "
                        "password), or is not a git URL. Nothing was queued. Use an "
                        "SSH URL (git@host:org/repo.git) with a deploy key in the "
                        "~/.ssh of the host's user, or a git credential helper on "
                        "the host."
                    )
                ) from None
            params["source"].update(
                {"url": self.git_url.strip(), "ref": self.git_ref.strip()}
            )
        if self.start_at and self.start_at <= fields.Datetime.now():
            raise UserError(_("The start time is already past: leave it empty."))
        return (
            self.env["deployment.operation"]
            ._enqueue(
                "deployment_run",
                environment=self.environment_id,
                params=params,
                scheduled_at=self.start_at or None,
            )
            ._action_open()
        )

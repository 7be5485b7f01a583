# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Announcements to production's users (issue 11, R2).

An announcement tells every person who works in production what is going to
happen to it (scheduled, a reminder, starting, completed, postponed, rolled
back), by email, each in their own language and time zone. Its recipients
are production's active internal users, read from production's own database
by a ``production_users`` operation, plus partners chosen here. It is
rendered from the ``mail.template`` of its kind (model: the recipient, so
``lang`` is the recipient's language), previewed, then put in Odoo's mail
queue: one ``mail.mail`` per recipient, whose state is the recipient's
delivery state.

The plan announces itself: scheduled, the day before, when the deployment
day starts and ends, and when a scheduled go-live moves or the plan goes
back to development.
"""

from datetime import timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import email_normalize, formataddr
from odoo.tools.misc import format_datetime

from .deployment_plan import DEPLOYER_GROUP

KINDS = [
    ("scheduled", "Scheduled"),
    ("reminder", "Reminder"),
    ("starting", "Starting"),
    ("completed", "Completed"),
    ("postponed", "Postponed"),
    ("rolled_back", "Rolled back"),
]
# Told during or right after the deployment day: production's users were
# read for an earlier announcement of the plan a short while ago, and
# production is busy being deployed (a read would wait for the deployment).
REUSING_KINDS = ("starting", "completed", "rolled_back")
# How long after a plan's move its automatic announcement reads
# production's users (see DeploymentPlan._announce).
AUTOMATIC_READ_DELAY = timedelta(minutes=1)
# A date in the reader's language: "Tuesday 8 December 2026, 20:00".
MOMENT_FORMAT = "EEEE d MMMM y, HH:mm"
TIME_FORMAT = "HH:mm"
DELIVERY_STATES = [
    ("pending", "Not queued"),
    ("outgoing", "Outgoing"),
    ("sent", "Sent"),
    ("exception", "Delivery failed"),
    ("cancel", "Cancelled"),
]


class DeploymentAnnouncement(models.Model):
    _name = "deployment.announcement"
    _description = "Announcement of a Deployment to Users"
    _inherit = ["mail.thread"]  # noqa: RUF012 - Odoo model attribute
    _order = "id desc"

    name = fields.Char(compute="_compute_name", store=True)
    plan_id = fields.Many2one(
        "deployment.plan", required=True, ondelete="cascade", index=True
    )
    production_id = fields.Many2one(related="plan_id.production_id")
    company_id = fields.Many2one(related="plan_id.company_id", store=True)
    kind = fields.Selection(KINDS, required=True, default="scheduled", tracking=True)
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("reading", "Reading recipients"),
            ("sent", "Sent"),
            ("cancelled", "Cancelled"),
        ],
        default="draft",
        required=True,
        readonly=True,
        tracking=True,
    )
    automatic = fields.Boolean(
        readonly=True,
        help="Made by the plan itself: sent as soon as its recipients are read.",
    )
    template_id = fields.Many2one(
        "mail.template",
        string="Mail template",
        compute="_compute_template_id",
        store=True,
        readonly=False,
        domain=[("model", "=", "deployment.announcement.recipient")],
    )
    note = fields.Text(
        string="A word of your own",
        help="Added to the mail as it is, in the language you write it.",
    )
    scheduled_for = fields.Datetime(
        string="Go-live announced",
        help="The plan's go-live when the announcement was made: what it tells.",
    )
    previous_scheduled_at = fields.Datetime(
        string="Go-live before", help="For a postponement: the date it replaces."
    )
    window_end = fields.Datetime(compute="_compute_window_end")
    recipient_ids = fields.One2many(
        "deployment.announcement.recipient", "announcement_id", string="Recipients"
    )
    partner_ids = fields.Many2many(
        "res.partner",
        string="Also to",
        help="People who are not users of production and should know too.",
    )
    recipient_count = fields.Integer(compute="_compute_counts")
    sent_count = fields.Integer(compute="_compute_counts")
    failed_count = fields.Integer(compute="_compute_counts")
    operation_id = fields.Many2one(
        "deployment.operation", string="Users read by", readonly=True, copy=False
    )
    users_read_at = fields.Datetime(string="Users read", readonly=True, copy=False)
    sent_at = fields.Datetime(readonly=True, copy=False)
    sent_by_id = fields.Many2one("res.users", readonly=True, copy=False)
    preview_recipient_id = fields.Many2one(
        "deployment.announcement.recipient",
        string="Preview for",
        domain="[('announcement_id', '=', id)]",
    )
    preview_subject = fields.Char(compute="_compute_preview")
    preview_body = fields.Html(compute="_compute_preview", sanitize=False)

    @api.depends("kind", "plan_id.name")
    def _compute_name(self):
        labels = dict(self._fields["kind"]._description_selection(self.env))
        for announcement in self:
            kind = labels.get(announcement.kind, "")
            announcement.name = f"{announcement.plan_id.name or ''} {kind}".strip()

    @api.depends("kind")
    def _compute_template_id(self):
        for announcement in self:
            announcement.template_id = self.env.ref(
                f"deployment_manager.mail_template_announcement_{announcement.kind}",
                raise_if_not_found=False,
            )

    @api.depends("scheduled_for", "plan_id.expected_downtime")
    def _compute_window_end(self):
        for announcement in self:
            start = announcement.scheduled_for
            announcement.window_end = start and start + timedelta(
                minutes=announcement.plan_id.expected_downtime or 0
            )

    @api.depends("recipient_ids.delivery_state")
    def _compute_counts(self):
        for announcement in self:
            states = announcement.recipient_ids.mapped("delivery_state")
            announcement.recipient_count = len(states)
            announcement.sent_count = states.count("sent")
            announcement.failed_count = states.count("exception")

    @api.depends(
        "preview_recipient_id",
        "recipient_ids",
        "template_id",
        "note",
        "scheduled_for",
        "plan_id",
    )
    def _compute_preview(self):
        for announcement in self:
            # Rendered from what is saved: a form being edited holds new
            # records, which a template cannot be rendered on.
            recipient = (
                announcement.preview_recipient_id or announcement.recipient_ids[:1]
            )._origin
            saved = announcement._origin
            if not (recipient and saved and saved.template_id):
                announcement.preview_subject = False
                announcement.preview_body = False
                continue
            rendered = saved._render(recipient)[recipient.id]
            announcement.preview_subject = rendered["subject"]
            announcement.preview_body = rendered["body_html"]

    # ------------------------------------------------------------------
    # Who may do what: the plan's rules (deployers and managers move it)
    # ------------------------------------------------------------------
    def _check_deployer(self):
        if not self.env.user.has_group(DEPLOYER_GROUP):
            raise AccessError(
                self.env._(
                    "Only deployers and deployment managers announce a deployment."
                )
            )

    def _check_state(self, *states):
        for announcement in self:
            if announcement.state not in states:
                raise UserError(
                    self.env._(
                        "%(announcement)s is %(state)s: this is not possible now.",
                        announcement=announcement.display_name,
                        state=dict(
                            announcement._fields["state"]._description_selection(
                                self.env
                            )
                        )[announcement.state].lower(),
                    )
                )

    # ------------------------------------------------------------------
    # Recipients
    # ------------------------------------------------------------------
    def action_read_recipients(self):
        """Queue the read of production's users (only managers may read
        production's database; the operation's own check says so)."""
        self._check_deployer()
        self._check_state("draft")
        for announcement in self:
            announcement._queue_read(self.env["deployment.operation"])
        return True

    def _queue_read(self, operations, delay=None):
        """Queue the ``production_users`` operation through ``operations``
        (the requester's or the system's environment), ``delay`` from now."""
        self.ensure_one()
        if not self.production_id:
            raise UserError(self.env._("The plan has no production environment."))
        # The announcement's, not one of the plan's steps: the end of a
        # deployment day cancels the plan's queued operations, not this read.
        operation = operations.with_context(deployment_plan_id=False)._enqueue(
            "production_users",
            environment=self.production_id,
            params={"announcement_id": self.id},
            # With a date, a target busy with something else is waited for,
            # not a refusal.
            scheduled_at=fields.Datetime.now() + (delay or timedelta()),
        )
        self.sudo().write({"operation_id": operation.id, "state": "reading"})
        return operation

    def _set_production_users(self, users):
        """Production's users become the recipients read from production
        (the earlier read's replaced); returns how many."""
        self.ensure_one()
        Recipient = self.env["deployment.announcement.recipient"].sudo()
        self.recipient_ids.filtered(lambda r: r.source == "production").unlink()
        known = {email_normalize(r.email) for r in self.recipient_ids if r.email}
        vals_list = []
        for user in users:
            email = email_normalize(user.get("email") or "")
            if not email or email in known:
                continue
            known.add(email)
            vals_list.append(
                {
                    "announcement_id": self.id,
                    "source": "production",
                    "login": user.get("login") or False,
                    "name": user.get("name") or email,
                    "email": email,
                    "lang": user.get("lang") or False,
                    "tz": user.get("tz") or False,
                }
            )
        Recipient.create(vals_list)
        return len(vals_list)

    def _users_read(self, operation):
        self.ensure_one()
        self.sudo().users_read_at = fields.Datetime.now()
        # Cancelled while its users were read: it stays so, and is not sent.
        if self.state != "reading":
            return
        self.sudo().state = "draft"
        if self.automatic:
            self._send_automatic()

    def _users_not_read(self, operation, message):
        self.ensure_one()
        if self.state == "reading":
            self.sudo().state = "draft"
        body = self.env._(
            "Production's users could not be read (%(operation)s): %(message)s",
            operation=operation.name,
            message=message or "-",
        )
        self.message_post(body=body)
        if self.automatic:
            self.plan_id.message_post(body=body)

    def _sync_partners(self):
        """The chosen partners as recipients (added or removed as chosen)."""
        for announcement in self:
            lines = announcement.recipient_ids.filtered(lambda r: r.source == "partner")
            lines.filtered(
                lambda r, a=announcement: (
                    r.partner_id and r.partner_id not in a.partner_ids
                )
            ).unlink()
            known = {
                email_normalize(r.email) for r in announcement.recipient_ids if r.email
            }
            vals_list = []
            for partner in announcement.partner_ids - lines.partner_id:
                email = email_normalize(partner.email or "")
                if not email or email in known:
                    continue
                known.add(email)
                vals_list.append(
                    {
                        "announcement_id": announcement.id,
                        "source": "partner",
                        "partner_id": partner.id,
                        "name": partner.name or email,
                        "email": email,
                        "lang": partner.lang or False,
                        "tz": partner.tz or False,
                    }
                )
            self.env["deployment.announcement.recipient"].sudo().create(vals_list)

    # What only the announcement's own methods write: a state written
    # directly (over RPC) would say "sent" of a mail never queued.
    _SYSTEM_FIELDS = frozenset(
        {"state", "automatic", "operation_id", "users_read_at", "sent_at", "sent_by_id"}
    )

    def _check_system_fields(self, names):
        written = sorted(set(names) & self._SYSTEM_FIELDS)
        if written and not self.env.is_superuser():
            raise AccessError(
                self.env._(
                    "%(fields)s of an announcement change only through its "
                    "buttons (or their methods).",
                    fields=", ".join(written),
                )
            )

    def write(self, vals):
        self._check_system_fields(vals)
        result = super().write(vals)
        if "partner_ids" in vals:
            self.filtered(lambda a: a.state == "draft")._sync_partners()
        return result

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_system_fields(vals)
        announcements = super().create(vals_list)
        announcements.filtered("partner_ids")._sync_partners()
        return announcements

    def _copy_recipients_from(self, source):
        """An earlier announcement's people, for the day's announcements."""
        self.ensure_one()
        self.env["deployment.announcement.recipient"].sudo().create(
            [
                {
                    "announcement_id": self.id,
                    "source": line.source,
                    "partner_id": line.partner_id.id,
                    "login": line.login,
                    "name": line.name,
                    "email": line.email,
                    "lang": line.lang,
                    "tz": line.tz,
                }
                for line in source.recipient_ids
            ]
        )
        self.sudo().write(
            {
                "users_read_at": source.users_read_at,
                "operation_id": source.operation_id.id,
            }
        )

    # ------------------------------------------------------------------
    # Rendering and sending
    # ------------------------------------------------------------------
    def _render(self, recipients):
        """{recipient id: {"subject", "body_html"}} in each one's language."""
        self.ensure_one()
        template = self.template_id.sudo()
        if not template:
            raise UserError(
                self.env._("No mail template for this kind of announcement.")
            )
        subjects = template._render_field("subject", recipients.ids, compute_lang=True)
        bodies = template._render_field("body_html", recipients.ids, compute_lang=True)
        return {
            recipient.id: {
                "subject": subjects.get(recipient.id) or "",
                "body_html": bodies.get(recipient.id) or "",
            }
            for recipient in recipients
        }

    def _email_from(self):
        self.ensure_one()
        company = self.company_id or self.env.company
        return (
            company.email_formatted
            or self.env["ir.mail_server"].sudo()._get_default_from_address()
            or self.env.user.email_formatted
            or self.env.ref("base.user_root").email_formatted
        )

    def action_send(self):
        """Put the announcement in Odoo's mail queue, one mail a recipient."""
        self._check_deployer()
        self._check_state("draft")
        for announcement in self:
            announcement._send()
        return True

    def _send(self):
        self.ensure_one()
        self._sync_partners()
        recipients = self.recipient_ids.filtered(
            lambda r: r.delivery_state == "pending"
        )
        if not self.recipient_ids:
            raise UserError(
                self.env._(
                    "%s has no recipient: read production's users or choose "
                    "partners first.",
                    self.display_name,
                )
            )
        if (
            self.kind in ("scheduled", "reminder", "starting")
            and not self.scheduled_for
        ):
            raise UserError(
                self.env._(
                    "%s tells no go-live date: set it on the plan.", self.display_name
                )
            )
        rendered = self._render(recipients)
        email_from = self._email_from()
        Mail = self.env["mail.mail"].sudo()
        for recipient in recipients:
            values = rendered[recipient.id]
            mail = Mail.create(
                {
                    "subject": values["subject"],
                    "body_html": values["body_html"],
                    "email_from": email_from,
                    "email_to": recipient.email_formatted,
                    "model": self._name,
                    "res_id": self.id,
                    # Kept after sending: its state is the recipient's
                    # delivery state.
                    "auto_delete": False,
                    "message_type": "email_outgoing",
                }
            )
            recipient.sudo().mail_id = mail
        self.sudo().write(
            {
                "state": "sent",
                "sent_at": fields.Datetime.now(),
                "sent_by_id": self.env.user.id,
            }
        )
        summary = self.env._(
            "%(announcement)s queued for %(count)s recipient(s).",
            announcement=self.display_name,
            count=len(recipients),
        )
        self.message_post(body=summary)
        self.plan_id.message_post(body=summary)
        # The mail queue's cron is woken now rather than at its next turn.
        cron = self.env.ref(
            "mail.ir_cron_mail_scheduler_action", raise_if_not_found=False
        )
        if cron:
            cron.sudo()._trigger()
        return True

    def _send_automatic(self):
        """Send what the plan announced itself; a failure is told on the plan
        and leaves the announcement a draft to send by hand."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                self.with_user(self.env.ref("base.user_root"))._send()
        except UserError as error:
            self.plan_id.message_post(
                body=self.env._(
                    "%(announcement)s was not sent: %(reason)s",
                    announcement=self.display_name,
                    reason=error.args[0] if error.args else error,
                )
            )

    def action_cancel(self):
        self._check_deployer()
        self._check_state("draft", "reading")
        self.sudo().write({"state": "cancelled"})
        return True

    def action_view_operation(self):
        self.ensure_one()
        return self.operation_id._action_open()


class DeploymentAnnouncementRecipient(models.Model):
    _name = "deployment.announcement.recipient"
    _description = "Recipient of a Deployment Announcement"
    _order = "announcement_id, source desc, name, id"

    announcement_id = fields.Many2one(
        "deployment.announcement", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="announcement_id.company_id", store=True)
    source = fields.Selection(
        [("production", "Production user"), ("partner", "Chosen partner")],
        required=True,
        default="partner",
    )
    partner_id = fields.Many2one("res.partner", ondelete="set null")
    login = fields.Char(help="The user's login in production.")
    name = fields.Char(required=True)
    email = fields.Char(required=True)
    lang = fields.Char(
        string="Language", help="The user's language in production, e.g. fr_FR."
    )
    tz = fields.Char(string="Time zone")
    render_lang = fields.Char(
        compute="_compute_render_lang",
        help="The language the mail is written in: the user's when this Odoo "
        "has it, else English.",
    )
    email_formatted = fields.Char(compute="_compute_email_formatted")
    mail_id = fields.Many2one(
        "mail.mail", string="Mail", readonly=True, ondelete="set null"
    )
    delivery_state = fields.Selection(
        DELIVERY_STATES,
        compute="_compute_delivery",
        store=True,
        default="pending",
    )
    failure_reason = fields.Text(compute="_compute_delivery", store=True)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_mail(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._check_mail(vals)
        return super().write(vals)

    def _check_mail(self, vals):
        # The mail is the one this recipient was sent: set only by Send.
        if "mail_id" in vals and not self.env.is_superuser():
            raise AccessError(self.env._("A recipient's mail is set only by sending."))

    @api.depends("lang")
    def _compute_render_lang(self):
        installed = {code for code, _name in self.env["res.lang"].get_installed()}
        for recipient in self:
            recipient.render_lang = (
                recipient.lang if recipient.lang in installed else "en_US"
            )

    @api.depends("name", "email")
    def _compute_email_formatted(self):
        for recipient in self:
            recipient.email_formatted = formataddr(
                (recipient.name or "", recipient.email or "")
            )

    @api.depends("mail_id.state", "mail_id.failure_reason")
    def _compute_delivery(self):
        for recipient in self:
            mail = recipient.mail_id
            recipient.delivery_state = mail.state if mail else "pending"
            recipient.failure_reason = mail.failure_reason if mail else False

    # What the templates call: values in the recipient's language and zone.
    def _zone(self):
        self.ensure_one()
        for zone in (self.tz, self.announcement_id.plan_id.user_id.tz):
            if zone and zone in pytz.all_timezones_set:
                return zone
        return "UTC"

    def _moment(self, value, pattern=MOMENT_FORMAT):
        self.ensure_one()
        if not value:
            return ""
        return format_datetime(
            self.env,
            value,
            tz=self._zone(),
            dt_format=pattern,
            lang_code=self.render_lang,
        )

    def _when(self):
        """The window's start, e.g. "Tuesday 8 December 2026, 20:00"."""
        return self._moment(self.announcement_id.scheduled_for)

    def _until(self):
        """The window's end, e.g. "20:30"."""
        return self._moment(self.announcement_id.window_end, TIME_FORMAT)

    def _before(self):
        """The go-live a postponement replaces."""
        return self._moment(self.announcement_id.previous_scheduled_at)

    def _downtime(self):
        """The expected downtime, in whole minutes."""
        return str(round(self.announcement_id.plan_id.expected_downtime or 0))

    def _plan(self):
        return self.announcement_id.plan_id.sudo()

    def _contacts(self):
        """Who helps users after the go-live: the plan's support roster."""
        return ", ".join(self._plan().support_user_ids.mapped("name"))


class DeploymentPlan(models.Model):
    _inherit = "deployment.plan"

    announcement_ids = fields.One2many("deployment.announcement", "plan_id")
    announcement_count = fields.Integer(compute="_compute_announcement_count")
    announcement_reminder_hours = fields.Integer(
        string="Remind (hours before)",
        default=24,
        help="Users are reminded this many hours before the go-live; 0: no reminder.",
    )
    announcement_instructions = fields.Text(
        string="What users should do",
        help="Told to users in the announcements, as written.",
    )
    announcement_banner = fields.Boolean(
        string="Banner in production",
        help="With the reminder, a banner above production's web client tells "
        "its users of the go-live; it is removed after the deployment day.",
    )
    announcement_banner_text = fields.Char(
        string="Banner text",
        help="Shown as written. Empty: the go-live and the downtime, in the "
        "plan owner's language.",
    )
    announcement_banner_shown = fields.Boolean(
        string="Banner shown", readonly=True, copy=False
    )

    def _compute_announcement_count(self):
        for plan in self:
            plan.announcement_count = len(plan.announcement_ids)

    def action_view_announcements(self):
        self.ensure_one()
        action = self._list_action(
            self.env._("Announcements of %s", self.name),
            "deployment.announcement",
            [("plan_id", "=", self.id)],
        )
        action["context"] = {"default_plan_id": self.id}
        return action

    # ------------------------------------------------------------------
    # The plan announces itself
    # ------------------------------------------------------------------
    def _announce(self, kind, previous=None, tell_date=True):
        """Make and send an announcement of ``kind``, as the system: its
        recipients are read from production first (or, during the day, the
        latest read is reused); it is sent once they are in. A failure to
        prepare it is told on the plan and never stops the plan's move."""
        self.ensure_one()
        root = self.env.ref("base.user_root")
        Announcement = self.env["deployment.announcement"].with_user(root)
        try:
            with self.env.cr.savepoint():
                announcement = Announcement.create(
                    {
                        "plan_id": self.id,
                        "kind": kind,
                        "automatic": True,
                        # Back to development: no date to tell yet.
                        "scheduled_for": tell_date and self.scheduled_at,
                        "previous_scheduled_at": previous or False,
                    }
                )
                source = self._latest_recipients() if kind in REUSING_KINDS else None
                if source:
                    announcement._copy_recipients_from(source)
                else:
                    # A little later: a read due now would make production
                    # busy for whatever is asked right after (the deployment
                    # day's first step), and the engine refuses such a
                    # request instead of queueing it behind.
                    announcement._queue_read(
                        self.env["deployment.operation"].with_user(root),
                        delay=AUTOMATIC_READ_DELAY,
                    )
        except (UserError, AccessError) as error:
            self.message_post(
                body=self.env._(
                    "The %(kind)s announcement could not be prepared: %(reason)s",
                    kind=dict(KINDS).get(kind, kind),
                    reason=error.args[0] if error.args else error,
                )
            )
            return self.env["deployment.announcement"]
        if source:
            announcement._send_automatic()
        return announcement.with_env(self.env)

    def _banner(self, show):
        """Queue the banner's writing (``show``) or removal in production, as
        the system, a little later (see _announce); a refusal (a freeze
        window) is told on the plan."""
        self.ensure_one()
        params = {"show": show, "text": self._banner_text() if show else ""}
        try:
            with self.env.cr.savepoint():
                return (
                    self.env["deployment.operation"]
                    .with_user(self.env.ref("base.user_root"))
                    .with_context(deployment_plan_id=self.id)
                    ._enqueue(
                        "production_banner",
                        environment=self.production_id,
                        params=params,
                        scheduled_at=fields.Datetime.now() + AUTOMATIC_READ_DELAY,
                    )
                )
        except (UserError, AccessError) as error:
            self.message_post(
                body=self.env._(
                    "The banner in production could not be queued: %s",
                    error.args[0] if error.args else error,
                )
            )
        return self.env["deployment.operation"]

    def _banner_text(self):
        self.ensure_one()
        if self.announcement_banner_text:
            return self.announcement_banner_text
        lang = self.user_id.lang or "en_US"
        plan = self.with_context(lang=lang)
        return plan.env._(
            "Odoo will be updated on %(when)s, for about %(minutes)s minutes: "
            "save your work and log out before.",
            when=format_datetime(
                plan.env,
                self.scheduled_at,
                tz=self.user_id.tz or "UTC",
                dt_format=MOMENT_FORMAT,
                lang_code=lang,
            ),
            minutes=round(self.expected_downtime or 0),
        )

    def _remove_banner(self):
        for plan in self.filtered("announcement_banner"):
            plan._banner(False)

    def _latest_recipients(self):
        """The latest announcement of the plan whose users were read."""
        return self.announcement_ids.filtered(
            lambda a: a.users_read_at and a.recipient_ids
        ).sorted(lambda a: (a.users_read_at, a.id))[-1:]

    def action_schedule(self, scheduled_at=None):
        result = super().action_schedule(scheduled_at=scheduled_at)
        now = fields.Datetime.now()
        for plan in self.filtered(lambda p: p.state == "scheduled"):
            # Scheduling sooner than the risk's lead time is a conflict only a
            # manager overrides (deployment_plan_risk); when one did, the
            # plan says the users are told late.
            lead = timedelta(days=max(plan.risk_lead_days, 0))
            if plan.scheduled_at and plan.scheduled_at - now < lead:
                plan.message_post(
                    body=self.env._(
                        "The go-live is less than %(days)s day(s) away: users "
                        "are told later than the announcement lead time asks.",
                        days=plan.risk_lead_days,
                    )
                )
            plan._announce("scheduled")
        return result

    def write(self, vals):
        moved = {}
        if "scheduled_at" in vals:
            moved = {p.id: p.scheduled_at for p in self if p.state == "scheduled"}
        result = super().write(vals)
        for plan in self:
            if (
                plan.id in moved
                and plan.state == "scheduled"
                and plan.scheduled_at != moved[plan.id]
            ):
                plan._announce("postponed", previous=moved[plan.id])
        return result

    def action_back_to_development(self, reason=None):
        scheduled = self.filtered(lambda p: p.state == "scheduled")
        previous = {p.id: p.scheduled_at for p in scheduled}
        result = super().action_back_to_development(reason=reason)
        for plan in scheduled.filtered(lambda p: p.state == "development"):
            plan._announce("postponed", previous=previous[plan.id], tell_date=False)
            plan._remove_banner()
        return result

    def _start_day(self, override_reason=None):
        result = super()._start_day(override_reason=override_reason)
        self._announce("starting")
        return result

    def _finish_day(self):
        result = super()._finish_day()
        self._announce("completed")
        self._remove_banner()
        return result

    def _end_day(self, outcome, reason):
        result = super()._end_day(outcome, reason)
        if outcome == "rolled_back":
            self._announce("rolled_back")
        self._remove_banner()
        return result

    @api.model
    def _cron_announcement_reminders(self):
        """Remind users of the go-lives coming within each plan's reminder
        time, once per go-live date."""
        now = fields.Datetime.now()
        for plan in self.search(
            [("state", "=", "scheduled"), ("scheduled_at", ">", now)]
        ):
            hours = plan.announcement_reminder_hours
            if hours <= 0 or plan.scheduled_at - now > timedelta(hours=hours):
                continue
            if plan.announcement_ids.filtered(
                lambda a, plan=plan: (
                    a.kind == "reminder"
                    and a.scheduled_for == plan.scheduled_at
                    and a.state != "cancelled"
                )
            ):
                continue
            plan._announce("reminder")
            if plan.announcement_banner:
                plan._banner(True)

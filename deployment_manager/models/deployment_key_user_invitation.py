# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Key-user acceptance (S4): when a plan enters pre-production, every key
user of production is invited to work there; each answers "all fine" or
"I found a problem" (by a personal link or in this Odoo), and the plan
leaves pre-production only after the soak, with every sign-off in."""

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, time, timedelta

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import AccessError, UserError

from .deployment_host import MANAGER_GROUP
from .deployment_plan import DeploymentPlan as BasePlan

# A personal link works this long after the soak's minimum end (and after
# the last reminder): a key user late by a few days may still answer.
LINK_GRACE_DAYS = 7
# A screenshot larger than this is refused: the page is public.
SCREENSHOT_MAX_BYTES = 5 * 1024 * 1024
SEVERITIES = [("minor", "Minor"), ("major", "Major"), ("blocking", "Blocking")]
INVITATION_STATES = [
    ("invited", "Invited"),
    ("answered", "Answered"),
    ("overridden", "Sign-off overridden"),
    ("closed", "Closed"),
]
ANSWER_KINDS = [("fine", "All fine"), ("problem", "Problem found")]


def token_digest(token):
    """What is stored of a personal link: its SHA-256, never the link."""
    return hashlib.sha256(token.encode()).hexdigest()


class DeploymentKeyUserInvitation(models.Model):
    _name = "deployment.key.user.invitation"
    _description = "Key User Invitation to Pre-production"
    _inherit = ["mail.thread", "mail.activity.mixin"]  # noqa: RUF012 - Odoo model attribute
    _order = "plan_id desc, iteration desc, module, name"
    _rec_name = "name"

    plan_id = fields.Many2one(
        "deployment.plan", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="plan_id.company_id", store=True)
    iteration = fields.Integer(required=True, readonly=True)
    key_user_id = fields.Many2one(
        "deployment.key.user", ondelete="set null", readonly=True
    )
    # Copied at the invitation: the key user may change or be archived later,
    # the invitation keeps who was asked.
    name = fields.Char(string="Key user", required=True, readonly=True)
    module = fields.Char(string="Application or module", readonly=True)
    module_title = fields.Char(string="Application", readonly=True)
    user_id = fields.Many2one("res.users", string="User here", readonly=True)
    email = fields.Char(readonly=True)
    lang = fields.Char(string="Language", readonly=True)
    token_hashes = fields.Text(
        readonly=True,
        copy=False,
        groups="base.group_system",
        help="SHA-256 of each personal link sent (invitation and reminders); "
        "the links themselves are kept nowhere.",
    )
    invited_at = fields.Datetime(readonly=True, required=True)
    expires_at = fields.Datetime(string="Link valid until", readonly=True)
    last_reminded_at = fields.Datetime(readonly=True)
    state = fields.Selection(
        INVITATION_STATES,
        default="invited",
        required=True,
        readonly=True,
        tracking=True,
    )
    answer_ids = fields.One2many(
        "deployment.key.user.answer", "invitation_id", readonly=True
    )
    last_answer_kind = fields.Selection(
        ANSWER_KINDS, string="Latest answer", compute="_compute_last_answer", store=True
    )
    last_answer_at = fields.Datetime(compute="_compute_last_answer", store=True)
    signed_off = fields.Boolean(
        compute="_compute_last_answer",
        store=True,
        help="The latest answer is “all fine”, or a manager overrode the "
        "missing sign-off with a reason.",
    )
    override_reason = fields.Text(readonly=True)
    overridden_by_id = fields.Many2one("res.users", readonly=True)
    overridden_at = fields.Datetime(readonly=True)
    # What the key user is about to report from this Odoo's form; the only
    # fields they write (see write()).
    draft_description = fields.Text(string="What went wrong")
    draft_severity = fields.Selection(SEVERITIES, string="Severity", default="minor")
    draft_screenshot = fields.Binary(string="Screenshot", attachment=True)
    draft_screenshot_filename = fields.Char()
    draft_override_reason = fields.Text(
        string="Why override",
        help="A deployment manager's reason to let this missing sign-off pass.",
    )
    # Read through the plan with sudo: a key user with an account here may
    # have no access to deployment plans.
    plan_title = fields.Char(compute="_compute_plan_info", string="Plan title")
    preproduction_url = fields.Char(
        compute="_compute_plan_info", string="Pre-production"
    )
    soak_ends_at = fields.Datetime(compute="_compute_plan_info", string="Soak ends")
    accepts_answers = fields.Boolean(compute="_compute_plan_info")
    is_mine = fields.Boolean(compute="_compute_plan_info")

    _USER_FIELDS = frozenset(
        {
            "draft_description",
            "draft_severity",
            "draft_screenshot",
            "draft_screenshot_filename",
            "draft_override_reason",
        }
    )

    @api.depends("answer_ids.kind", "answer_ids.answered_at", "state")
    def _compute_last_answer(self):
        for invitation in self:
            last = invitation.answer_ids.sorted(lambda a: (a.answered_at, a.id))[-1:]
            invitation.last_answer_kind = last.kind
            invitation.last_answer_at = last.answered_at
            invitation.signed_off = (
                last.kind == "fine" or invitation.state == "overridden"
            )

    @api.depends_context("uid")
    def _compute_plan_info(self):
        for invitation in self:
            plan = invitation.sudo().plan_id
            invitation.plan_title = plan.display_name
            invitation.preproduction_url = plan.preproduction_id.web_url
            invitation.soak_ends_at = plan._soak_ends_at()
            invitation.accepts_answers = invitation.sudo()._accepts_answers()
            invitation.is_mine = invitation.user_id == self.env.user

    def write(self, vals):
        # States, answers and overrides change only through the methods
        # below (which check who and when): over RPC, a key user writes
        # nothing but the problem they are about to report.
        if not self.env.su and set(vals) - self._USER_FIELDS:
            raise AccessError(
                self.env._(
                    "An invitation changes only through its buttons (All fine, "
                    "I found a problem, Override)."
                )
            )
        return super().write(vals)

    # ------------------------------------------------------------------
    # Links
    # ------------------------------------------------------------------
    def _new_link(self):
        """A fresh personal link; only its hash is kept. Earlier links of the
        same invitation stay valid (the key user may click any of the
        emails), all until the invitation's expiry."""
        self.ensure_one()
        token = f"{self.id}-{secrets.token_urlsafe(32)}"
        hashes = (self.sudo().token_hashes or "").split()
        self.sudo().write({"token_hashes": " ".join([*hashes, token_digest(token)])})
        return f"{self.get_base_url()}/deployment_manager/acceptance/{token}"

    @api.model
    def _from_token(self, token):
        """The invitation a link names (sudo), or an empty recordset: an
        unknown, altered or foreign token finds nothing. The comparison is
        made in constant time against every link sent to that invitation."""
        ident, _sep, secret = (token or "").partition("-")
        if not ident.isdigit() or not secret or len(token) > 200:
            return self.browse()
        invitation = self.sudo().browse(int(ident)).exists()
        digest = token_digest(token)
        matched = False
        for known in (invitation.token_hashes or "").split():
            # No early exit: every stored hash is compared.
            matched = hmac.compare_digest(known, digest) | matched
        return invitation if matched else self.browse()

    def _accepts_answers(self):
        """Whether an answer may be recorded now (the plan is in this
        invitation's pre-production, the link not expired)."""
        self.ensure_one()
        plan = self.plan_id
        return bool(
            self.state in ("invited", "answered", "overridden")
            and plan.state == "preproduction"
            and plan.iteration == self.iteration
            and (not self.expires_at or fields.Datetime.now() <= self.expires_at)
        )

    def _refusal(self):
        """Why an answer is refused now, in words for the key user."""
        self.ensure_one()
        if self.expires_at and fields.Datetime.now() > self.expires_at:
            return self.env._("This link has expired.")
        return self.env._(
            "The acceptance of %s on pre-production is over: thank you.",
            self.plan_id.title,
        )

    # ------------------------------------------------------------------
    # Answers
    # ------------------------------------------------------------------
    def _record_answer(
        self, kind, description=None, severity="minor", screenshot=None, via="link"
    ):
        """Record an answer (sudo: the key user may have no account here).

        ``screenshot`` is ``(filename, bytes)`` or None. A blocking problem
        sends the plan back to development with the problem as the reason."""
        self.ensure_one()
        invitation = self.sudo()
        if not invitation._accepts_answers():
            raise UserError(invitation._refusal())
        plan = invitation.plan_id
        description = (description or "").strip()
        problem = self.env["deployment.plan.problem"]
        if screenshot and len(screenshot[1]) > SCREENSHOT_MAX_BYTES:
            raise UserError(self.env._("The screenshot is larger than 5 MB."))
        if kind == "problem":
            if not description:
                raise UserError(self.env._("Describe the problem you found."))
            if severity not in dict(SEVERITIES):
                raise UserError(self.env._("Choose the problem's severity."))
            summary = description.splitlines()[0][:120]
            problem = problem.sudo().create(
                {
                    "plan_id": plan.id,
                    "name": f"{invitation.name}: {summary}",
                    "description": description,
                    "severity": severity,
                    "reported_by_id": invitation.user_id.id,
                    "plan_state": "preproduction",
                }
            )
            if screenshot:
                filename, data = screenshot
                self.env["ir.attachment"].sudo().create(
                    {
                        "name": filename or "screenshot",
                        "datas": base64.b64encode(data),
                        "res_model": "deployment.plan.problem",
                        "res_id": problem.id,
                    }
                )
        elif kind != "fine":
            raise UserError(self.env._("Unknown answer."))
        answer = (
            self.env["deployment.key.user.answer"]
            .sudo()
            .create(
                {
                    "invitation_id": invitation.id,
                    "kind": kind,
                    "description": description or False,
                    "severity": severity if kind == "problem" else False,
                    "problem_id": problem.id,
                    "via": via,
                }
            )
        )
        if invitation.state == "invited":
            invitation.write({"state": "answered"})
        if kind == "fine":
            body = self.env._(
                "%(name)s (%(app)s) worked on pre-production: all fine.",
                name=invitation.name,
                app=invitation.module_title or invitation.module,
            )
            invitation.activity_ids.action_feedback(feedback=body)
        else:
            body = self.env._(
                "%(name)s (%(app)s) found a problem on pre-production "
                "(%(severity)s): %(summary)s",
                name=invitation.name,
                app=invitation.module_title or invitation.module,
                severity=dict(
                    self.env["deployment.plan.problem"]
                    ._fields["severity"]
                    ._description_selection(self.env)
                )[severity],
                summary=description,
            )
        plan.sudo().message_post(body=body)
        if kind == "problem" and severity == "blocking":
            # The key user is no deployer: the return to development is made
            # by the system on their behalf, the problem as its reason.
            actor = (
                plan
                if invitation.user_id == self.env.user
                else plan.with_user(SUPERUSER_ID)
            )
            actor.sudo().with_context(
                deployment_key_user_problem=True
            ).action_back_to_development(
                self.env._(
                    "Blocking problem reported by key user %(name)s (%(app)s) on "
                    "pre-production: %(summary)s",
                    name=invitation.name,
                    app=invitation.module_title or invitation.module,
                    summary=description,
                )
            )
        return answer

    def _check_mine(self):
        for invitation in self:
            if invitation.user_id != self.env.user:
                raise AccessError(
                    self.env._("Only %s answers this invitation.", invitation.name)
                )

    def action_answer_fine(self):
        """The key user, in this Odoo: "I worked on pre-production today: all fine"."""
        self._check_mine()
        for invitation in self:
            invitation._record_answer("fine", via="backend")
        return True

    def action_answer_problem(self):
        """The key user, in this Odoo: the problem written in the form."""
        self._check_mine()
        for invitation in self:
            screenshot = None
            if invitation.draft_screenshot:
                screenshot = (
                    invitation.draft_screenshot_filename or "screenshot",
                    base64.b64decode(invitation.draft_screenshot),
                )
            invitation._record_answer(
                "problem",
                description=invitation.draft_description,
                severity=invitation.draft_severity or "minor",
                screenshot=screenshot,
                via="backend",
            )
            invitation.write(
                {
                    "draft_description": False,
                    "draft_severity": "minor",
                    "draft_screenshot": False,
                    "draft_screenshot_filename": False,
                }
            )
        return True

    def action_override(self):
        """A manager, from the invitation: its missing sign-off passes, with
        the reason written in the form."""
        for invitation in self:
            invitation.plan_id.action_override_signoff(
                invitation.ids, invitation.draft_override_reason
            )
            invitation.write({"draft_override_reason": False})
        return True

    # ------------------------------------------------------------------
    # Emails
    # ------------------------------------------------------------------
    def _send(self, template_xmlid):
        """Queue the template to each key user, in their language, with a
        fresh personal link (rendered from the context: never stored)."""
        template = self.env.ref(template_xmlid).sudo()
        for invitation in self:
            link = invitation._new_link()
            template.with_context(acceptance_url=link).send_mail(
                invitation.id, force_send=False
            )

    @api.model
    def _cron_remind(self):
        """Daily: remind the key users of plans in pre-production who have
        not answered today — everyone during the soak's minimum, then only
        those whose sign-off is missing."""
        now = fields.Datetime.now()
        start_of_day = datetime.combine(now.date(), time.min)
        invitations = self.sudo().search(
            [
                ("state", "in", ("invited", "answered")),
                ("plan_id.state", "=", "preproduction"),
            ]
        )
        for invitation in invitations:
            plan = invitation.plan_id
            if invitation.iteration != plan.iteration:
                continue
            if invitation.signed_off and now >= plan._soak_ends_at():
                continue
            if (
                max(
                    invitation.invited_at,
                    invitation.last_answer_at or invitation.invited_at,
                    invitation.last_reminded_at or invitation.invited_at,
                )
                >= start_of_day
            ):
                continue
            invitation.write(
                {
                    "last_reminded_at": now,
                    "expires_at": max(
                        invitation.expires_at or now,
                        now + timedelta(days=LINK_GRACE_DAYS),
                    ),
                }
            )
            invitation._send("deployment_manager.mail_template_key_user_reminder")


class DeploymentKeyUserAnswer(models.Model):
    """An answer of a key user during the soak: all fine, or a problem (then
    also a problem of the plan)."""

    _name = "deployment.key.user.answer"
    _description = "Key User Answer"
    _order = "answered_at desc, id desc"

    invitation_id = fields.Many2one(
        "deployment.key.user.invitation", required=True, ondelete="cascade"
    )
    plan_id = fields.Many2one(related="invitation_id.plan_id", store=True, index=True)
    company_id = fields.Many2one(related="invitation_id.company_id", store=True)
    iteration = fields.Integer(related="invitation_id.iteration", store=True)
    name = fields.Char(related="invitation_id.name", string="Key user")
    kind = fields.Selection(ANSWER_KINDS, string="Answer", required=True)
    answered_at = fields.Datetime(default=fields.Datetime.now, required=True)
    description = fields.Text()
    severity = fields.Selection(SEVERITIES)
    problem_id = fields.Many2one("deployment.plan.problem", ondelete="set null")
    via = fields.Selection(
        [("link", "Personal link"), ("backend", "This Odoo")], default="link"
    )


class DeploymentEnvironment(models.Model):
    _inherit = "deployment.environment"

    web_url = fields.Char(
        string="Web address",
        help="Where users open this environment in a browser, e.g. "
        "https://preprod.example.com: sent to key users invited to pre-production.",
    )
    plan_soak_min_days = fields.Integer(
        string="Soak on pre-production (days)",
        default=7,
        help="How long key users work on pre-production before a plan of this "
        "landscape may be approved, from their invitation (0: no minimum).",
    )


class DeploymentPlan(models.Model):
    _inherit = "deployment.plan"

    soak_min_days = fields.Integer(
        string="Minimum soak (days)",
        compute="_compute_soak_min_days",
        store=True,
        readonly=False,
        help="Days on pre-production, from the key users' invitation, before "
        "the plan may be approved. Only deployment managers make it shorter "
        "than the landscape's minimum.",
    )
    soak_started_at = fields.Datetime(
        string="Key users invited", readonly=True, copy=False
    )
    soak_days_elapsed = fields.Integer(
        string="Days on pre-production", compute="_compute_soak"
    )
    soak_ends_at = fields.Datetime(string="Soak ends", compute="_compute_soak")
    invitation_ids = fields.One2many(
        "deployment.key.user.invitation", "plan_id", readonly=True
    )
    invitation_count = fields.Integer(compute="_compute_soak")
    signoff_summary = fields.Char(
        string="Key users' sign-offs", compute="_compute_soak"
    )

    # Written only by the transition into pre-production.
    _SYSTEM_FIELDS = BasePlan._SYSTEM_FIELDS | {"soak_started_at"}

    # On the production only, not on its policy: a landscape's new minimum
    # applies to new plans, not to plans already soaking.
    @api.depends("production_id")
    def _compute_soak_min_days(self):
        for plan in self:
            plan.soak_min_days = (
                plan.production_id.plan_soak_min_days if plan.production_id else 7
            )

    @api.depends("soak_started_at", "soak_min_days", "invitation_ids.signed_off")
    def _compute_soak(self):
        now = fields.Datetime.now()
        for plan in self:
            current = plan._current_invitations()
            started = plan._soak_started_at() if plan.state == "preproduction" else None
            plan.soak_days_elapsed = (now - started).days if started else 0
            plan.soak_ends_at = plan._soak_ends_at() if started else False
            plan.invitation_count = len(plan.invitation_ids)
            plan.signoff_summary = (
                f"{len(current.filtered('signed_off'))} / {len(current)}"
                if current
                else ""
            )

    def _current_invitations(self):
        self.ensure_one()
        return self.invitation_ids.filtered(
            lambda i: i.iteration == self.iteration and i.state != "closed"
        )

    def _soak_started_at(self):
        """When the current soak started: the invitation (plans already in
        pre-production before this existed: when their checklist was made)."""
        self.ensure_one()
        if self.soak_started_at:
            return self.soak_started_at
        items = self.item_ids.filtered(
            lambda i: i.phase == "preproduction" and i.iteration == self.iteration
        )
        return min(items.mapped("create_date")) if items else fields.Datetime.now()

    def _soak_ends_at(self):
        self.ensure_one()
        return self._soak_started_at() + timedelta(days=self.soak_min_days)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if "soak_min_days" in vals:
                self._check_soak(
                    vals["soak_min_days"],
                    self.env["deployment.environment"].browse(
                        vals.get("production_id")
                    ),
                )
        return super().create(vals_list)

    def write(self, vals):
        if "soak_min_days" in vals:
            for plan in self:
                production = (
                    self.env["deployment.environment"].browse(vals["production_id"])
                    if vals.get("production_id")
                    else plan.production_id
                )
                plan._check_soak(vals["soak_min_days"], production)
        return super().write(vals)

    def _check_soak(self, days, production):
        # A soak shorter than the landscape's is a deployment manager's
        # decision: a deployer setting it to 0 would skip the key users'
        # week. A longer one anybody may ask (the form sends the landscape's
        # value itself when the production is chosen).
        if (
            not self.env.su
            and (days or 0) < production.sudo().plan_soak_min_days
            and not self.env.user.has_group(MANAGER_GROUP)
        ):
            raise AccessError(
                self.env._(
                    "Only deployment managers shorten a plan's soak below its "
                    "landscape's minimum."
                )
            )

    def _check_deployer(self):
        # A key user's blocking problem sends the plan back to development
        # from their answer (sudo, server side only: no RPC call runs as su).
        if self.env.su and self.env.context.get("deployment_key_user_problem"):
            return
        return super()._check_deployer()

    def _set_state(self, state):
        previous = self.state
        result = super()._set_state(state)
        if state == "preproduction" and previous != "preproduction":
            self._invite_key_users()
        elif previous == "preproduction" and state != "preproduction":
            self._close_invitations()
        return result

    def _invite_key_users(self):
        """S4: every active key user of every application of production is
        invited to work on pre-production, by email in their language (with
        a personal link), and by an activity when they are users here."""
        self.ensure_one()
        now = fields.Datetime.now()
        self.sudo().write({"soak_started_at": now})
        key_users = (
            self.env["deployment.key.user"]
            .sudo()
            .search([("production_id", "=", self.production_id.id)])
        )
        Invitation = self.env["deployment.key.user.invitation"].sudo()
        expires = self._soak_ends_at() + timedelta(days=LINK_GRACE_DAYS)
        for key_user in key_users:
            user = key_user.user_id
            invitation = Invitation.create(
                {
                    "plan_id": self.id,
                    "iteration": self.iteration,
                    "key_user_id": key_user.id,
                    "name": key_user.name,
                    "module": key_user.module,
                    "module_title": key_user.module_title,
                    "user_id": user.id,
                    "email": key_user.email or user.email,
                    "lang": key_user.lang or user.lang or "en_US",
                    "invited_at": now,
                    "expires_at": expires,
                }
            )
            invitation._send("deployment_manager.mail_template_key_user_invitation")
            if user:
                invitation.activity_schedule(
                    "mail.mail_activity_data_todo",
                    date_deadline=fields.Date.to_date(self._soak_ends_at()),
                    user_id=user.id,
                    summary=self.env._(
                        "Work on pre-production and answer: %s", self.title
                    ),
                )
        if key_users:
            self.message_post(
                body=self.env._(
                    "%(count)s key user(s) invited to pre-production: %(names)s.",
                    count=len(key_users),
                    names=", ".join(key_users.mapped("name")),
                )
            )

    def _close_invitations(self):
        """The plan left pre-production: its links stop working, open
        activities are closed; answers and sign-offs stay as history."""
        self.ensure_one()
        invitations = self.invitation_ids.sudo().filtered(lambda i: i.state != "closed")
        invitations.activity_ids.action_feedback(
            feedback=self.env._("The plan left pre-production.")
        )
        invitations.write({"state": "closed"})

    def _gate_transition_blockers_soak(self):
        """Why the plan may not leave pre-production yet (S4)."""
        self.ensure_one()
        blockers = []
        started = self._soak_started_at()
        ends = self._soak_ends_at()
        if fields.Datetime.now() < ends:
            blockers.append(
                self.env._(
                    "The key users work on pre-production for at least %(days)s "
                    "day(s): %(elapsed)s day(s) since their invitation, until "
                    "%(end)s.",
                    days=self.soak_min_days,
                    elapsed=(fields.Datetime.now() - started).days,
                    end=fields.Datetime.to_string(
                        fields.Datetime.context_timestamp(self, ends)
                    ),
                )
            )
        for invitation in self._current_invitations().filtered(
            lambda i: not i.signed_off
        ):
            why = (
                self.env._("their latest answer reports a problem")
                if invitation.last_answer_kind == "problem"
                else self.env._("no answer yet")
            )
            blockers.append(
                self.env._(
                    "%(name)s (%(app)s) has not signed off (%(why)s): their “all "
                    "fine”, or a manager's override with a reason.",
                    name=invitation.name,
                    app=invitation.module_title or invitation.module,
                    why=why,
                )
            )
        return blockers

    def _gate_blockers(self, transition):
        blockers = super()._gate_blockers(transition)
        if transition == "approve":
            blockers += self._gate_transition_blockers_soak()
        elif (
            transition == "to_preproduction"
            and not self.preproduction_id.web_url
            and self.env["deployment.key.user"]
            .sudo()
            .search_count([("production_id", "=", self.production_id.id)])
        ):
            blockers.append(
                self.env._(
                    "Give pre-production's web address: its key users are "
                    "invited to it."
                )
            )
        return blockers

    def action_override_signoff(self, invitation_ids, reason):
        """A deployment manager lets missing sign-offs pass, with a reason
        (recorded on each invitation and in the plan's chatter)."""
        self._check_manager(self.env._("override a key user's sign-off"))
        if not (reason or "").strip():
            raise UserError(self.env._("Say why the sign-off is overridden."))
        reason = reason.strip()
        invitations = self.env["deployment.key.user.invitation"].browse(invitation_ids)
        for plan in self:
            mine = invitations.filtered(
                lambda i, plan=plan: (
                    i.plan_id == plan
                    and i.iteration == plan.iteration
                    and i.state in ("invited", "answered")
                    and not i.signed_off
                )
            )
            if not mine:
                raise UserError(
                    self.env._("No missing sign-off of %s to override.", plan.name)
                )
            mine.sudo().write(
                {
                    "state": "overridden",
                    "override_reason": reason,
                    "overridden_by_id": self.env.user.id,
                    "overridden_at": fields.Datetime.now(),
                }
            )
            plan.message_post(
                body=self.env._(
                    "Sign-off of %(names)s overridden by %(user)s: %(reason)s",
                    names=", ".join(mine.mapped("name")),
                    user=self.env.user.name,
                    reason=reason,
                )
            )
        return True

    def action_view_invitations(self):
        self.ensure_one()
        action = self._list_action(
            self.env._("Key users invited for %s", self.name),
            "deployment.key.user.invitation",
            [("plan_id", "=", self.id)],
        )
        action["context"] = {"search_default_current": 1}
        return action

# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Key-user acceptance (S4): invitations mailed through a real SMTP server
(aiosmtpd), the acceptance page answered over real HTTP, the soak gate.

Nothing runs on a server here: the landscape's hosts are fake addresses and
the checklist items are waived by a manager; what is tested is who is
invited, what they receive, and what their answers do to the plan."""

import contextlib
import email
import email.policy
import re
import urllib.parse
from datetime import timedelta

import odoo.modules.module
from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger
from odoo.tools.misc import format_date

from ..ops.tests.smtp_sink import SmtpSink
from .common import DeploymentTestMixin

PREPROD_URL = "https://preprod.example.com"
# A 1×1 PNG: the screenshot a key user attaches.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@contextlib.contextmanager
def real_smtp():
    """Odoo's mail server returns early while a test runs (current_test is
    set); for the length of the block, mails really go over SMTP."""
    saved = odoo.modules.module.current_test
    odoo.modules.module.current_test = None
    try:
        yield
    finally:
        odoo.modules.module.current_test = saved


@tagged("post_install", "-at_install")
class TestKeyUserAcceptance(DeploymentTestMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.sink = SmtpSink()
        cls.sink.__enter__()
        cls.addClassCleanup(cls.sink.__exit__, None, None, None)
        # The only outgoing server: every mail of the tests goes to the sink.
        cls.env["ir.mail_server"].search([]).active = False
        cls.env["ir.mail_server"].create(
            {
                "name": "Test sink",
                "smtp_host": cls.sink.host,
                "smtp_port": cls.sink.port,
                "smtp_encryption": "none",
            }
        )
        cls.deployer.email = "deployer@example.com"
        hosts = {
            name: cls.env["deployment.host"].create(
                {"name": name, "kind": "ssh", "hostname": address}
            )
            for name, address in (
                ("Production server", "127.0.0.81"),
                ("Development server", "127.0.0.82"),
                ("Pre-production server", "127.0.0.83"),
            )
        }
        production = {
            "name": "Production",
            "environment_type": "production",
            "host_id": hosts["Production server"].id,
            "db_name": "prod",
        }
        Environment = cls.env["deployment.environment"]
        if "plan_risk_required" in Environment._fields:
            # The risk assessment gate has its own tests: here only the soak
            # and the sign-offs hold the approval.
            production["plan_risk_required"] = False
        cls.production = Environment.create(production)
        for kind, name, vals in (
            ("development", "Development server", {}),
            ("preproduction", "Pre-production server", {"web_url": PREPROD_URL}),
        ):
            cls.env["deployment.environment"].create(
                {
                    "name": name.replace(" server", ""),
                    "environment_type": kind,
                    "host_id": hosts[name].id,
                    "production_id": cls.production.id,
                    "db_name": kind,
                    **vals,
                }
            )
        cls.sales_user = new_test_user(
            cls.env,
            login="dm_key_sales",
            groups="base.group_user",
            name="Sales Key User",
            email="sales.lead@example.com",
        )
        KeyUser = cls.env["deployment.key.user"]
        cls.key_users = {
            "sales": KeyUser.create(
                {
                    "production_id": cls.production.id,
                    "module": "sale",
                    "user_id": cls.sales_user.id,
                    "name": "Sales Key User",
                    "email": "sales.lead@example.com",
                    "lang": "en_US",
                }
            ),
            "stock": KeyUser.create(
                {
                    "production_id": cls.production.id,
                    "module": "stock",
                    "name": "Warehouse Lead",
                    "email": "warehouse@example.com",
                    "lang": "en_US",
                }
            ),
            "account": KeyUser.create(
                {
                    "production_id": cls.production.id,
                    "module": "account",
                    "name": "Chef Comptable",
                    "email": "compta@example.fr",
                    "lang": "fr_FR",
                }
            ),
            "archived": KeyUser.create(
                {
                    "production_id": cls.production.id,
                    "module": "purchase",
                    "name": "Former Buyer",
                    "email": "former.buyer@example.com",
                    "lang": "en_US",
                    "active": False,
                }
            ),
        }
        # The template's French, as a translator writes it (the shipped one
        # comes from i18n/fr.po): each key user gets their own language.
        template = cls.env.ref("deployment_manager.mail_template_key_user_invitation")
        template.update_field_translations(
            "subject",
            {"fr_FR": "Veuillez essayer {{ object.plan_title }} en pré-production"},
        )
        # (body_html is translated as a whole in Odoo 18.)
        template.update_field_translations(
            "body_html",
            {
                "fr_FR": template.body_html.replace(
                    "What to try", "Ce qu'il faut essayer"
                )
            },
        )

    def setUp(self):
        super().setUp()
        self.sent_before = len(self.sink.messages)
        self.plan = (
            self.env["deployment.plan"]
            .with_user(self.deployer)
            .create(
                {
                    "title": "Customs stamps",
                    "production_id": self.production.id,
                    "module_ids": [
                        (
                            0,
                            0,
                            {
                                "name": "invoice_stamp",
                                "description": "A customs stamp on export invoices",
                            },
                        )
                    ],
                    "git_url": "git@git.example.com:acme/addons.git",
                    "git_ref": "release-1",
                    "justification": "Customs ask for a stamp on export invoices.",
                }
            )
        )

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def waive_all(self):
        self.plan.current_item_ids.with_user(self.manager).action_waive(
            "Done by hand for this test"
        )

    def to_preproduction(self):
        self.plan.action_start_development()
        self.waive_all()
        self.plan.action_to_preproduction()
        self.assertEqual(self.plan.state, "preproduction")

    def deliver(self):
        """The mail queue, sent over SMTP to the sink; the new messages as
        ``{recipient: email.message.EmailMessage}``."""
        with real_smtp():
            self.env["mail.mail"].sudo().search(
                [
                    ("state", "=", "outgoing"),
                    ("model", "=", "deployment.key.user.invitation"),
                ]
            ).send()
        new = self.sink.messages[self.sent_before :]
        self.sent_before = len(self.sink.messages)
        return {
            rcpt: email.message_from_bytes(data, policy=email.policy.default)
            for _from, rcpts, data in new
            for rcpt in rcpts
        }

    @staticmethod
    def html(message):
        return message.get_body(preferencelist=("html",)).get_content()

    def link(self, message):
        """The personal link of a mail, as a path on this test server."""
        found = re.search(
            r'href="([^"]*/deployment_manager/acceptance/[^"]+)"', self.html(message)
        )
        self.assertTrue(found, "the mail holds a personal link")
        return urllib.parse.urlsplit(found.group(1)).path

    def invitation(self, key):
        return self.plan.invitation_ids.filtered(
            lambda i: (
                i.key_user_id == self.key_users[key]
                and i.iteration == self.plan.iteration
            )
        )

    def csrf(self, path):
        """The CSRF token of the page's form (this browser's session)."""
        page = self.url_open(path)
        self.assertEqual(page.status_code, 200, page.text)
        return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def answer(self, path, **data):
        """A key user's browser: the page, then the form posted with its
        CSRF token."""
        token = self.csrf(path)
        files = data.pop("files", None)
        response = self.url_open(
            path, data={"csrf_token": token, **data}, files=files, allow_redirects=False
        )
        self.env.invalidate_all()
        return response

    def invite_everyone(self):
        self.to_preproduction()
        mails = self.deliver()
        return {
            key: self.link(mails[self.key_users[key].email])
            for key in ("sales", "stock", "account")
        }

    # ------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------
    def test_invitations_reach_each_key_user_in_their_language(self):
        """Entering pre-production invites every active key user of every
        application: one mail each over SMTP, in their language, with
        pre-production's address, the dates, what changes and a personal
        link; the archived key user gets nothing; the one with an account
        here also gets an activity."""
        self.to_preproduction()
        mails = self.deliver()
        self.assertEqual(
            sorted(mails),
            ["compta@example.fr", "sales.lead@example.com", "warehouse@example.com"],
        )
        self.assertNotIn("former.buyer@example.com", mails)
        invitations = self.plan.invitation_ids
        self.assertEqual(len(invitations), 3)
        self.assertEqual(set(invitations.mapped("state")), {"invited"})
        self.assertEqual(set(invitations.mapped("iteration")), {1})
        ends = self.plan._soak_ends_at()
        for address, lang, subject, heading in (
            (
                "warehouse@example.com",
                "en_US",
                "Please try PLAN/",
                "What to try",
            ),
            (
                "compta@example.fr",
                "fr_FR",
                "Veuillez essayer PLAN/",
                "Ce qu'il faut essayer",
            ),
        ):
            message = mails[address]
            self.assertTrue(message["Subject"].startswith(subject), message["Subject"])
            self.assertIn("Customs stamps", message["Subject"])
            body = self.html(message)
            self.assertIn(heading, body)
            self.assertIn(PREPROD_URL, body)
            self.assertIn(
                format_date(self.env, self.plan.soak_started_at, lang_code=lang), body
            )
            self.assertIn(format_date(self.env, ends, lang_code=lang), body)
            self.assertIn("invoice_stamp", body)
            self.assertIn("A customs stamp on export invoices", body)
            self.assertIn("Customs ask for a stamp on export invoices.", body)
            self.assertIn("/deployment_manager/acceptance/", body)
        # Seven days from the invitation: the two dates differ in the mail.
        self.assertNotEqual(
            format_date(self.env, self.plan.soak_started_at, lang_code="fr_FR"),
            format_date(self.env, ends, lang_code="fr_FR"),
        )
        # The links are personal; only their hashes are stored.
        links = {self.link(m) for m in mails.values()}
        self.assertEqual(len(links), 3)
        stored = " ".join(invitations.sudo().mapped("token_hashes"))
        for path in links:
            self.assertNotIn(path.rsplit("/", 1)[1], stored)
        activity = self.invitation("sales").activity_ids
        self.assertEqual(activity.user_id, self.sales_user)
        self.assertFalse(self.invitation("stock").activity_ids)

    def test_acceptance_page_records_answers_and_refuses_bad_links(self):
        """A valid link shows the page and records "all fine" (POST with
        Odoo's CSRF token); an altered token is refused with 404, an expired
        one with 403, and neither records anything."""
        links = self.invite_everyone()
        stock = self.invitation("stock")
        page = self.url_open(links["stock"])
        self.assertEqual(page.status_code, 200)
        self.assertIn("Warehouse Lead", page.text)
        self.assertIn(PREPROD_URL, page.text)
        response = self.answer(links["stock"], answer="fine")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertIn('id="done"', response.text)
        self.assertEqual(stock.answer_ids.mapped("kind"), ["fine"])
        self.assertTrue(stock.signed_off)
        self.assertEqual(stock.state, "answered")

        # Without the CSRF token: refused by Odoo, nothing recorded.
        with mute_logger("odoo.http"):
            refused = self.url_open(links["stock"], data={"answer": "fine"})
        self.assertEqual(refused.status_code, 400)
        # A valid CSRF token of this browser, for the posts below.
        csrf = self.csrf(links["sales"])
        # One character changed in the secret: unknown link.
        path = links["stock"]
        tampered = path[:-1] + ("A" if path[-1] != "A" else "B")
        response = self.url_open(tampered)
        self.assertEqual(response.status_code, 404)
        self.assertIn("This link is not valid.", response.text)
        response = self.url_open(tampered, data={"csrf_token": csrf, "answer": "fine"})
        self.assertEqual(response.status_code, 404)
        # Another invitation's id with this secret: unknown as well.
        ident = path.rsplit("/", 1)[1].split("-", 1)[0]
        other = self.invitation("sales").id
        forged = path.replace(f"/{ident}-", f"/{other}-")
        response = self.url_open(forged, data={"csrf_token": csrf, "answer": "fine"})
        self.assertEqual(response.status_code, 404)
        self.env.invalidate_all()
        self.assertEqual(len(stock.answer_ids), 1)
        self.assertFalse(self.invitation("sales").answer_ids)

        # The French key user's page is in French (its language declared).
        self.assertIn('<html lang="fr-FR">', self.url_open(links["account"]).text)
        # Expired: refused, in the key user's language.
        account = self.invitation("account")
        account.sudo().write(
            {"expires_at": fields.Datetime.now() - timedelta(minutes=1)}
        )
        response = self.url_open(links["account"])
        self.assertEqual(response.status_code, 403)
        self.assertIn('id="refusal"', response.text)
        response = self.url_open(
            links["account"], data={"csrf_token": csrf, "answer": "fine"}
        )
        self.assertEqual(response.status_code, 403)
        self.env.invalidate_all()
        self.assertFalse(account.answer_ids)

    def test_a_blocking_problem_sends_the_plan_back_to_development(self):
        """A key user without an account reports a blocking problem with a
        screenshot: a problem of the plan, and the plan goes back to
        development with it as the reason; the links then stop working."""
        links = self.invite_everyone()
        minor = self.answer(
            links["stock"],
            answer="problem",
            description="The delivery slip shows the stamp twice",
            severity="minor",
        )
        self.assertEqual(minor.status_code, 200, minor.text)
        self.assertEqual(self.plan.state, "preproduction")
        self.assertEqual(self.invitation("stock").last_answer_kind, "problem")
        self.assertFalse(self.invitation("stock").signed_off)

        response = self.answer(
            links["account"],
            answer="problem",
            description="Les factures d'export ne sont plus validées",
            severity="blocking",
            files={"screenshot": ("erreur.png", PNG, "image/png")},
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual((self.plan.state, self.plan.iteration), ("development", 2))
        first = self.plan.iteration_ids.filtered(lambda i: i.number == 1)
        self.assertIn("Chef Comptable", first.back_reason)
        self.assertIn("Les factures d'export ne sont plus validées", first.back_reason)
        self.assertEqual(first.back_from, "preproduction")
        problem = self.plan.problem_ids.filtered(lambda p: p.severity == "blocking")
        self.assertEqual(problem.plan_state, "preproduction")
        self.assertIn("Chef Comptable", problem.name)
        attachment = self.env["ir.attachment"].search(
            [("res_model", "=", "deployment.plan.problem"), ("res_id", "=", problem.id)]
        )
        self.assertEqual((attachment.name, attachment.raw), ("erreur.png", PNG))
        self.assertEqual(set(self.plan.invitation_ids.mapped("state")), {"closed"})
        self.assertFalse(self.invitation("sales").activity_ids)
        response = self.url_open(links["sales"])
        self.assertEqual(response.status_code, 403)

    def test_soak_gate_needs_the_days_and_every_signoff(self):
        """Approval is refused before 7 days and while a sign-off is
        missing, naming each; with every "all fine" in (one from this
        Odoo's form) and the invitation 7 days back, it passes."""
        links = self.invite_everyone()
        self.waive_all()
        manager_plan = self.plan.with_user(self.manager)
        with self.assertRaises(UserError) as caught:
            manager_plan.action_approve()
        message = str(caught.exception)
        self.assertIn("for at least 7 day(s): 0 day(s) since their invitation", message)
        for name in ("Sales Key User", "Warehouse Lead", "Chef Comptable"):
            self.assertIn(f"{name} (", message)
        self.assertEqual(self.plan.soak_days_elapsed, 0)

        self.answer(links["stock"], answer="fine")
        self.answer(links["account"], answer="fine")
        # The key user with an account answers from the invitation's form.
        sales = self.invitation("sales").with_user(self.sales_user)
        self.assertTrue(sales.is_mine and sales.accepts_answers)
        with self.assertRaises(AccessError):
            sales.write({"state": "overridden"})
        with self.assertRaises(AccessError):
            self.invitation("stock").with_user(self.sales_user).read(["name"])
        with self.assertRaises(AccessError):
            self.invitation("sales").with_user(self.manager).action_answer_fine()
        # Their form opens without any deployment right: the plan itself
        # is not shown to them, its title and pre-production's address are.
        views = sales.get_views([(False, "form")])
        self.assertNotIn('name="plan_id"', views["views"]["form"]["arch"])
        shown = views["models"]["deployment.key.user.invitation"]["fields"]
        values = sales.web_read({name: {} for name in shown})[0]
        self.assertEqual(
            (values["plan_title"], values["preproduction_url"]),
            (self.plan.display_name, PREPROD_URL),
        )
        # First a problem, written in the form (the only fields they write)…
        sales.write(
            {
                "draft_description": "Quotation PDF lacks the stamp legend",
                "draft_severity": "minor",
            }
        )
        sales.action_answer_problem()
        self.assertEqual(self.plan.state, "preproduction")
        self.assertFalse(sales.draft_description)
        with self.assertRaises(UserError) as caught:
            manager_plan.action_approve()
        self.assertIn(
            "Sales Key User (sale) has not signed off (their latest answer reports "
            "a problem)",
            str(caught.exception),
        )
        problem = self.plan.problem_ids
        self.assertEqual(
            (problem.severity, problem.reported_by_id), ("minor", self.sales_user)
        )
        problem.write(
            {"state": "resolved", "resolution": "Legend added to the report layout"}
        )
        # … then, the next day, all fine: the latest answer counts.
        sales.action_answer_fine()
        self.assertEqual(
            set(self.invitation("sales").answer_ids.mapped("via")), {"backend"}
        )
        self.assertFalse(self.invitation("sales").activity_ids, "activity done")
        self.assertEqual(self.plan.signoff_summary, "3 / 3")
        with self.assertRaises(UserError) as caught:
            manager_plan.action_approve()
        message = str(caught.exception)
        self.assertIn("for at least 7 day(s)", message)
        self.assertNotIn("has not signed off", message)

        # A week later (the soak started 7 days ago).
        self.plan.sudo().write(
            {"soak_started_at": fields.Datetime.now() - timedelta(days=7, minutes=1)}
        )
        self.plan.invalidate_recordset(["soak_days_elapsed"])
        self.assertEqual(self.plan.soak_days_elapsed, 7)
        manager_plan.action_approve()
        self.assertEqual(self.plan.state, "approved")
        self.assertEqual(set(self.plan.invitation_ids.mapped("state")), {"closed"})
        self.assertTrue(all(self.plan.invitation_ids.mapped("signed_off")))

    def test_manager_overrides_a_missing_signoff_with_a_reason(self):
        """A key user never answers: a manager's override, with its reason,
        lets the plan be approved; a deployer may not override, nor shorten
        the soak."""
        links = self.invite_everyone()
        self.waive_all()
        self.answer(links["stock"], answer="fine")
        self.answer(links["account"], answer="fine")
        self.plan.sudo().write(
            {"soak_started_at": fields.Datetime.now() - timedelta(days=8)}
        )
        silent = self.invitation("sales")
        with self.assertRaises(AccessError):
            self.plan.action_override_signoff(silent.ids, "On holiday")
        with self.assertRaises(AccessError):
            self.plan.write({"soak_min_days": 0})
        # The form sends the landscape's minimum with the production: that,
        # or longer, a deployer may.
        other = (
            self.env["deployment.plan"]
            .with_user(self.deployer)
            .create(
                {
                    "title": "Longer soak",
                    "production_id": self.production.id,
                    "soak_min_days": 7,
                }
            )
        )
        other.write({"soak_min_days": 14})
        self.assertEqual(other.soak_min_days, 14)
        manager_plan = self.plan.with_user(self.manager)
        with self.assertRaises(UserError):
            manager_plan.action_override_signoff(silent.ids, "  ")
        with self.assertRaises(UserError) as caught:
            manager_plan.action_approve()
        self.assertIn("Sales Key User (", str(caught.exception))
        manager_plan.action_override_signoff(
            silent.ids, "On holiday; the sales team lead tried the quotations"
        )
        self.assertEqual(
            (silent.state, silent.overridden_by_id, silent.signed_off),
            ("overridden", self.manager, True),
        )
        self.assertIn(
            "On holiday; the sales team lead tried the quotations",
            self.plan.message_ids[0].body,
        )
        manager_plan.action_approve()
        self.assertEqual(self.plan.state, "approved")

    def test_daily_reminder_to_who_has_not_answered_today(self):
        """The daily reminder mails the key users who have not answered
        today, with a fresh link (the first one still works); who answered
        today is not reminded."""
        links = self.invite_everyone()
        yesterday = fields.Datetime.now() - timedelta(days=1)
        self.plan.invitation_ids.sudo().write({"invited_at": yesterday})
        self.answer(links["stock"], answer="fine")
        self.env["deployment.key.user.invitation"]._cron_remind()
        mails = self.deliver()
        self.assertEqual(sorted(mails), ["compta@example.fr", "sales.lead@example.com"])
        self.assertIn("Reminder", mails["sales.lead@example.com"]["Subject"])
        fresh = self.link(mails["compta@example.fr"])
        self.assertNotEqual(fresh, links["account"])
        self.assertEqual(self.url_open(fresh).status_code, 200)
        self.assertEqual(self.url_open(links["account"]).status_code, 200)
        # Once a day only.
        self.env["deployment.key.user.invitation"]._cron_remind()
        self.assertEqual(self.deliver(), {})

    def test_preproduction_needs_its_address_when_key_users_are_invited(self):
        """Key users are sent pre-production's address: without one, a plan
        of a landscape with key users does not enter pre-production."""
        self.plan.preproduction_id.with_user(self.manager).web_url = False
        self.plan.action_start_development()
        self.waive_all()
        with self.assertRaises(UserError) as caught:
            self.plan.action_to_preproduction()
        self.assertIn("Give pre-production's web address", str(caught.exception))
        self.assertEqual(self.plan.state, "development")
        self.assertFalse(self.plan.invitation_ids)

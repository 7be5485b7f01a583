# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Announcements to production's users (issue 11, R2), on real servers.

Production is a real Odoo database made by the test (a copy of the
fixture database, Odoo's base), read over a real sshd on 127.0.0.80, with
users written into it: one in English, one in
French, an inactive one, a portal one and one without an email. Its users
are read through the real ``production_users`` operation; the mails go
through Odoo's mail queue to a real SMTP server (aiosmtpd) set as the
outgoing mail server.

Odoo does not connect to any SMTP server while a test runs
(``odoo.modules.module.current_test``): ``real_smtp()`` lifts that for the
time the queue is processed, and only then.
"""

import contextlib
import email
import email.policy
from datetime import datetime, timedelta

import odoo.modules.module
from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged
from odoo.tools.misc import format_datetime

from ..ops.tests.smtp_sink import SmtpSink
from .common import (
    DeploymentTestMixin,
    drop_databases,
    make_environment_copy,
    query,
)

# Production's database: a copy of the fixture database (Odoo's base) on
# the main cluster, made by the test; its server is never started.
DB = "dm_announce_production"

# Production's people. Ingrid is inactive, Paul a portal user, Nora has no
# address: none of them is told. Admin (in the template database) is.
USER_FIELDS = ("login", "name", "email", "lang", "tz", "active", "share")
PRODUCTION_USERS = [
    dict(zip(USER_FIELDS, user, strict=True))
    for user in (
        ("alice", "Alice Martin", "alice@prod.example.com", "en_US", "Europe/London")
        + (True, False),
        ("bernard", "Bernard Dupont", "bernard@prod.example.com", "fr_FR")
        + ("Europe/Paris", True, False),
        ("ingrid", "Ingrid Inactive", "ingrid@prod.example.com", "en_US", "UTC")
        + (False, False),
        ("paul", "Paul Portal", "paul@prod.example.com", "en_US", "UTC", True, True),
        ("nora", "Nora Nomail", "", "en_US", "UTC", True, False),
    )
]
TOLD = {"alice@prod.example.com", "bernard@prod.example.com", "admin@example.com"}
NOT_TOLD = {"ingrid@prod.example.com", "paul@prod.example.com"}
ADD_USER = """
WITH partner AS (
    INSERT INTO res_partner (name, complete_name, email, lang, tz, active, type)
    VALUES (%(name)s, %(name)s, NULLIF(%(email)s, ''), %(lang)s, %(tz)s, %(active)s,
            'contact')
    RETURNING id)
INSERT INTO res_users (login, partner_id, company_id, active, share)
SELECT %(login)s, partner.id, 1, %(active)s, %(share)s FROM partner
"""

# The French of the templates, until i18n/fr.po has it: the English
# sentences of the bodies and the subjects, as the lead's fr.po will say them.
FR_SENTENCES = [
    ("Hello ", "Bonjour "),
    ("A reminder: ", "Pour rappel : "),
    ("Odoo will be updated on ", "Odoo sera mis à jour le "),
    (", until about ", ", jusqu'à environ "),
    (" (time zone ", " (fuseau horaire "),
    ("Expected downtime: ", "Interruption prévue : "),
    (
        " minutes. Odoo cannot be used during that time.",
        " minutes. Odoo ne peut pas être utilisé pendant ce temps.",
    ),
    ("What is new:", "Ce qui est nouveau :"),
    ("What it changes in your work:", "Ce que cela change dans votre travail :"),
    ("Positive impact: ", "Impact positif : "),
    ("Negative impact: ", "Impact négatif : "),
    (
        (
            "What to do: save your work and log out of Odoo before the start. Do not "
            "begin long tasks shortly before. Once it is over, reload Odoo in your "
            "browser."
        ),
        (
            "Que faire : enregistrez votre travail et déconnectez-vous d'Odoo avant le "
            "début. Ne commencez pas de longues tâches peu avant. Une fois la mise à "
            "jour terminée, rechargez Odoo dans votre navigateur."
        ),
    ),
    ("Thank you for your understanding.", "Merci de votre compréhension."),
    (
        "The update of Odoo starts now. Odoo cannot be used until about ",
        (
            "La mise à jour d'Odoo commence maintenant. Odoo ne peut pas être utilisé "
            "jusqu'à environ "
        ),
    ),
    (
        (
            "What to do: save your work and log out of Odoo now; work not saved may be "
            "lost. You will be told when Odoo is back."
        ),
        (
            "Que faire : enregistrez votre travail et déconnectez-vous d'Odoo "
            "maintenant ; le travail non enregistré peut être perdu. Vous serez "
            "prévenu quand Odoo sera de nouveau disponible."
        ),
    ),
    (
        (
            "The update of Odoo is completed: you can work again. Reload Odoo in your "
            "browser first."
        ),
        (
            "La mise à jour d'Odoo est terminée : vous pouvez de nouveau travailler. "
            "Rechargez d'abord Odoo dans votre navigateur."
        ),
    ),
    (
        "If something does not work as before, tell ",
        "Si quelque chose ne fonctionne plus comme avant, prévenez ",
    ),
    ("Thank you for your patience.", "Merci de votre patience."),
    ("The update of Odoo announced for ", "La mise à jour d'Odoo annoncée pour le "),
    (" does not take place then.", " n'a pas lieu à cette date."),
    ("It will take place on ", "Elle aura lieu le "),
    (
        "Its new date will be announced. Until then, you can work in Odoo as usual.",
        (
            "Sa nouvelle date sera annoncée. D'ici là, vous pouvez travailler dans "
            "Odoo comme d'habitude."
        ),
    ),
    (
        (
            "The update of Odoo could not be completed and was undone: Odoo works as "
            "before the update, without anything new. You can work again; reload Odoo "
            "in your browser first."
        ),
        (
            "La mise à jour d'Odoo n'a pas pu être menée à bien et a été annulée : "
            "Odoo fonctionne comme avant la mise à jour, sans nouveauté. Vous pouvez "
            "de nouveau travailler ; rechargez d'abord Odoo dans votre navigateur."
        ),
    ),
    ("A new date will be announced.", "Une nouvelle date sera annoncée."),
]
FR_SUBJECTS = {
    "Odoo update on {{ object._when() }}": "Mise à jour d'Odoo le {{ object._when() }}",
    "Reminder: Odoo update on {{ object._when() }}": (
        "Rappel : mise à jour d'Odoo le {{ object._when() }}"
    ),
    "Odoo update starting: Odoo unavailable until about {{ object._until() }}": (
        "Mise à jour d'Odoo en cours : Odoo indisponible jusqu'à environ "
        "{{ object._until() }}"
    ),
    "Odoo update completed: you can work again": (
        "Mise à jour d'Odoo terminée : vous pouvez de nouveau travailler"
    ),
    "Odoo update rescheduled": "Mise à jour d'Odoo reportée",
    "Odoo update undone: Odoo works as before": (
        "Mise à jour d'Odoo annulée : Odoo fonctionne comme avant"
    ),
}
KINDS = ("scheduled", "reminder", "starting", "completed", "postponed", "rolled_back")


def french_body(body):
    for english, french in FR_SENTENCES:
        body = body.replace(english, french)
    return body


@contextlib.contextmanager
def real_smtp():
    """Odoo connects to SMTP servers for real meanwhile (see the module's
    docstring); the test marker is put back whatever happens."""
    saved = odoo.modules.module.current_test
    odoo.modules.module.current_test = None
    try:
        yield
    finally:
        odoo.modules.module.current_test = saved


def received(messages):
    """{address: [parsed message]} of what the SMTP server received."""
    out = {}
    for _mail_from, rcpt_tos, data in messages:
        message = email.message_from_bytes(data, policy=email.policy.default)
        for address in rcpt_tos:
            out.setdefault(address.lower(), []).append(message)
    return out


def html_of(message):
    return message.get_body(("html",)).get_content()


@tagged("post_install", "-at_install")
class TestAnnouncements(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        fixture = make_environment_copy(DB)
        cls.addClassCleanup(drop_databases, DB)
        host = cls._create_ssh_host(cls._start_sshd("127.0.0.80"), "Production server")
        query(DB, "UPDATE res_lang SET active = true WHERE code = 'fr_FR'")
        for user in PRODUCTION_USERS:
            query(DB, ADD_USER, user)
        Environment = cls.env["deployment.environment"]
        cls.production = Environment.create(
            {
                "name": "Production",
                "environment_type": "production",
                "host_id": host.id,
                "odoo_command": fixture["odoo_command"],
                "odoo_config_path": fixture["config_path"],
                "db_name": DB,
                "data_dir": fixture["data_dir"],
                "backup_dir": fixture["backup_dir"],
                # No key users' soak nor risk questionnaire: plans are
                # approved at once here.
                "plan_soak_min_days": 0,
                "plan_risk_required": False,
                # Users are told three days ahead, whatever the risk.
                "plan_lead_days_low": 3,
                "plan_lead_days_medium": 3,
                "plan_lead_days_high": 3,
                "plan_lead_days_critical": 3,
            }
        )
        # Records only, never reached: a plan moves through them on waivers.
        for role, name, address in (
            ("development", "Development", "127.0.0.81"),
            ("preproduction", "Pre-production", "127.0.0.82"),
        ):
            Environment.create(
                {
                    "name": name,
                    "environment_type": role,
                    "production_id": cls.production.id,
                    "host_id": cls.env["deployment.host"]
                    .create({"name": name, "kind": "ssh", "hostname": address})
                    .id,
                    "db_name": role,
                    "addons_paths": "/opt/custom-addons",
                }
            )
        # French here, as the announcements are written in it.
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.env["ir.module.module"]._load_module_terms(
            ["deployment_manager"], ["fr_FR"]
        )
        for kind in KINDS:
            template = cls.env.ref(
                f"deployment_manager.mail_template_announcement_{kind}"
            )
            english = template.with_context(lang="en_US")
            if template.with_context(lang="fr_FR").subject == english.subject:
                # i18n/fr.po does not have them yet.
                template.update_field_translations(
                    "subject", {"fr_FR": FR_SUBJECTS[english.subject]}
                )
                template.update_field_translations(
                    "body_html", {"fr_FR": french_body(english.body_html)}
                )
        cls.partner = cls.env["res.partner"].create(
            {
                "name": "Claire Comptable",
                "email": "claire@accounting.example.com",
                "lang": "fr_FR",
                "tz": "Europe/Paris",
            }
        )
        cls.sink = SmtpSink()
        cls.sink.__enter__()
        cls.addClassCleanup(cls.sink.__exit__, None, None, None)
        cls.env["ir.mail_server"].search([]).write({"active": False})
        cls.mail_server = cls.env["ir.mail_server"].create(
            {
                "name": "Test SMTP (aiosmtpd)",
                "smtp_host": cls.sink.host,
                "smtp_port": cls.sink.port,
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def _plan(self, **values):
        return (
            self.env["deployment.plan"]
            .with_user(self.deployer)
            .create(
                {
                    "title": "Invoice stamps",
                    "production_id": self.production.id,
                    "module_ids": [
                        (
                            0,
                            0,
                            {
                                "name": "invoice_stamp",
                                "description": "A stamp on every invoice",
                            },
                        )
                    ],
                    "source_kind": "git",
                    "git_url": "git@git.example.com:acme/addons.git",
                    "git_ref": "release-1",
                    "expected_downtime": 45,
                    "impact_ids": [
                        (
                            0,
                            0,
                            {
                                "application": "Invoicing",
                                "positive": "Stamped invoices at once",
                                "negative": "Old drafts must be stamped again",
                            },
                        )
                    ],
                    **values,
                }
            )
        )

    def _approved(self, scheduled_at):
        """A plan driven to approved by managers' waivers."""
        plan = self._plan()
        as_manager = plan.with_user(self.manager)

        def waive():
            as_manager.action_waive(
                plan.current_item_ids.ids, "Checked by hand for this test"
            )

        plan.action_start_development()
        waive()
        plan.action_to_preproduction()
        waive()
        as_manager.action_approve()
        self.assertEqual(plan.state, "approved")
        waive()
        plan.scheduled_at = scheduled_at
        return plan

    def _deliver(self, announcement, expected):
        """Process Odoo's mail queue over real SMTP for the announcement's
        mails (other mails of the test, notifications, stay queued); the
        messages the server received, by address."""
        mails = announcement.recipient_ids.mail_id
        self.assertEqual(len(mails), expected, "one mail a recipient")
        before = len(self.sink.messages)
        with real_smtp():
            self.env["mail.mail"].sudo().process_email_queue(ids=mails.ids)
        self.assertTrue(self.sink.wait_for(before + expected, timeout=30))
        messages = self.sink.messages[before:]
        self.assertEqual(len(messages), expected)
        return received(messages)

    def run_reads(self):
        """The queue, once the automatic operations on production (queued a
        minute ahead) are due: brought forward rather than waited for."""
        self.env["deployment.operation"].search(
            [
                ("kind", "in", ("production_users", "production_banner")),
                ("state", "=", "queued"),
            ]
        ).sudo().write({"scheduled_at": fields.Datetime.now()})
        self.run_queue()

    def _moment(self, value, lang, tz, pattern="EEEE d MMMM y, HH:mm"):
        return format_datetime(
            self.env, value, tz=tz, dt_format=pattern, lang_code=lang
        )

    def _announcement(self, plan, kind):
        announcements = plan.announcement_ids.filtered(lambda a: a.kind == kind)
        return announcements.sorted("id")[-1:]

    # ------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------
    def test_announcement_by_hand(self):
        """Production's users read through the operation, a chosen partner,
        the preview, the mails in each one's language over SMTP, the
        delivery state."""
        go_live = datetime(2027, 3, 9, 18, 0)  # a Tuesday; Paris is UTC+1
        plan = self._plan(scheduled_at=go_live)
        announcement = (
            self.env["deployment.announcement"]
            .with_user(self.deployer)
            .create(
                {
                    "plan_id": plan.id,
                    "kind": "scheduled",
                    "scheduled_for": go_live,
                    "partner_ids": [(6, 0, self.partner.ids)],
                    "note": "Questions: the helpdesk, extension 42.",
                }
            )
        )
        self.assertEqual(
            announcement.recipient_ids.mapped("email"),
            ["claire@accounting.example.com"],
        )
        # Production's data: a deployer may not read it, a manager may.
        with self.assertRaises(AccessError):
            announcement.action_read_recipients()
        announcement.with_user(self.manager).action_read_recipients()
        self.assertEqual(announcement.state, "reading")
        operation = announcement.operation_id
        self.assertEqual(
            (operation.kind, operation.environment_id),
            ("production_users", self.production),
        )
        self.assertFalse(operation.plan_id, "the announcement's, not a plan step")
        self.run_queue()
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(announcement.state, "draft")
        self.assertIn("3 active internal user(s)", operation.result_summary)
        # Only a count stays in the operation's result: the people are on
        # the announcement.
        self.assertEqual(operation.result_data["count"], 3)
        self.assertEqual(operation.result_data["users"], [])
        production_lines = announcement.recipient_ids.filtered(
            lambda r: r.source == "production"
        )
        self.assertEqual(set(production_lines.mapped("email")), TOLD)
        bernard = production_lines.filtered(lambda r: r.login == "bernard")
        self.assertEqual(
            (bernard.name, bernard.lang, bernard.tz, bernard.render_lang),
            ("Bernard Dupont", "fr_FR", "Europe/Paris", "fr_FR"),
        )
        self.assertEqual(
            set(announcement.recipient_ids.mapped("delivery_state")), {"pending"}
        )

        # The preview, before sending: one recipient, in their language.
        announcement.preview_recipient_id = bernard
        self.assertEqual(
            announcement.preview_subject,
            "Mise à jour d'Odoo le mardi 9 mars 2027, 19:00",
        )
        self.assertIn("Bonjour Bernard Dupont", announcement.preview_body)
        alice = production_lines.filtered(lambda r: r.login == "alice")
        announcement.preview_recipient_id = alice
        self.assertEqual(
            announcement.preview_subject, "Odoo update on Tuesday 9 March 2027, 18:00"
        )

        with self.assertRaises(AccessError):
            announcement.with_user(self.user).action_send()
        # Sent only by sending: not by writing its state (as over RPC).
        with self.assertRaises(AccessError):
            announcement.with_user(self.deployer).write({"state": "sent"})
        with self.assertRaises(AccessError):
            alice.with_user(self.deployer).write({"mail_id": False})
        announcement.with_user(self.deployer).action_send()
        self.assertEqual(announcement.state, "sent")
        self.assertEqual(len(announcement.recipient_ids), 4)
        self.assertEqual(
            set(announcement.recipient_ids.mapped("delivery_state")), {"outgoing"}
        )
        mails = announcement.recipient_ids.mail_id
        self.assertEqual(len(mails), 4, "one mail a recipient")
        self.assertEqual(set(mails.mapped("state")), {"outgoing"})

        by_address = self._deliver(announcement, 4)
        self.assertEqual(set(by_address), TOLD | {"claire@accounting.example.com"})
        self.assertFalse(NOT_TOLD & set(by_address), "inactive and portal not told")

        english = by_address["alice@prod.example.com"][0]
        self.assertEqual(
            english["Subject"], "Odoo update on Tuesday 9 March 2027, 18:00"
        )
        body = html_of(english)
        self.assertIn("Hello Alice Martin", body)
        self.assertIn("Tuesday 9 March 2027, 18:00", body)
        self.assertIn("18:45", body)  # the end of the window
        self.assertIn("Europe/London", body)
        self.assertIn("<strong>45</strong> minutes", body)
        self.assertIn("A stamp on every invoice", body)
        self.assertIn("Invoicing", body)
        self.assertIn("Positive impact: Stamped invoices at once", body)
        self.assertIn("Negative impact: Old drafts must be stamped again", body)
        self.assertIn("save your work and log out", body)
        self.assertIn("the helpdesk, extension 42", body)

        french = by_address["bernard@prod.example.com"][0]
        self.assertEqual(
            french["Subject"], "Mise à jour d'Odoo le mardi 9 mars 2027, 19:00"
        )
        body = html_of(french)
        self.assertIn("Bonjour Bernard Dupont", body)
        self.assertIn("Odoo sera mis à jour le <strong>mardi 9 mars 2027, 19:00", body)
        self.assertIn("19:45", body)
        self.assertIn("Interruption prévue : <strong>45</strong> minutes", body)
        self.assertIn("Impact positif : Stamped invoices at once", body)
        self.assertNotIn("Hello", body)
        # The chosen partner, in her language too.
        claire = by_address["claire@accounting.example.com"][0]
        self.assertTrue(claire["Subject"].startswith("Mise à jour d'Odoo le mardi"))

        announcement.recipient_ids.invalidate_recordset()
        self.assertEqual(
            set(announcement.recipient_ids.mapped("delivery_state")), {"sent"}
        )
        self.assertEqual(announcement.sent_count, 4)

    def test_delivery_failure_is_shown(self):
        """A mail the SMTP server never takes is marked failed, with why."""
        plan = self._plan(scheduled_at=fields.Datetime.now() + timedelta(days=5))
        announcement = (
            self.env["deployment.announcement"]
            .with_user(self.deployer)
            .create(
                {
                    "plan_id": plan.id,
                    "kind": "scheduled",
                    "scheduled_for": plan.scheduled_at,
                    "partner_ids": [(6, 0, self.partner.ids)],
                }
            )
        )
        announcement.action_send()
        # Nothing listens on that port any more.
        down = SmtpSink()
        self.mail_server.smtp_port = down.port
        with real_smtp():
            self.env["mail.mail"].sudo().process_email_queue()
        recipient = announcement.recipient_ids
        recipient.invalidate_recordset()
        self.assertEqual(recipient.delivery_state, "exception")
        self.assertTrue(recipient.failure_reason)
        self.assertEqual(announcement.failed_count, 1)

    def test_plan_announces_itself(self):
        """Scheduled, moved, reminded, the day starting and rolled back,
        scheduled again, back to development: each told to production's
        users without anyone pressing Send."""
        operations = self.env["deployment.operation"]
        soon = fields.Datetime.now().replace(microsecond=0) + timedelta(days=1)
        plan = self._approved(soon)

        # Sooner than the lead time: a manager schedules it anyway, and the
        # plan says the users are told late.
        plan.with_user(self.manager).action_schedule_override(
            "The team agreed to a short notice."
        )
        self.assertEqual(plan.state, "scheduled")
        self.assertIn(
            "less than 3 day(s) away",
            " ".join(plan.message_ids.mapped("body")),
            "a go-live closer than the lead time is said",
        )
        scheduled = self._announcement(plan, "scheduled")
        self.assertTrue(scheduled.automatic)
        self.assertEqual(scheduled.state, "reading")
        self.run_reads()
        self.assertEqual(scheduled.operation_id.state, "done")
        self.assertEqual(scheduled.state, "sent")
        by_address = self._deliver(scheduled, 3)
        self.assertEqual(set(by_address), TOLD)
        self.assertEqual(
            by_address["bernard@prod.example.com"][0]["Subject"],
            "Mise à jour d'Odoo le " + self._moment(soon, "fr_FR", "Europe/Paris"),
        )
        self.assertEqual(
            by_address["alice@prod.example.com"][0]["Subject"],
            "Odoo update on " + self._moment(soon, "en_US", "Europe/London"),
        )

        # The go-live moves: told, with both dates.
        later = soon + timedelta(days=3)
        plan.scheduled_at = later
        moved = self._announcement(plan, "postponed")
        self.assertEqual(moved.previous_scheduled_at, soon)
        self.run_reads()
        by_address = self._deliver(moved, 3)
        body = html_of(by_address["bernard@prod.example.com"][0])
        self.assertIn(self._moment(soon, "fr_FR", "Europe/Paris"), body)
        self.assertIn(
            "Elle aura lieu le <strong>" + self._moment(later, "fr_FR", "Europe/Paris"),
            body,
        )

        # The reminder: not yet, then once within the reminder time.
        plan._cron_announcement_reminders()
        self.assertFalse(self._announcement(plan, "reminder"))
        plan.announcement_reminder_hours = 120
        plan._cron_announcement_reminders()
        plan._cron_announcement_reminders()
        reminder = plan.announcement_ids.filtered(lambda a: a.kind == "reminder")
        self.assertEqual(len(reminder), 1)
        self.run_reads()
        by_address = self._deliver(reminder, 3)
        self.assertTrue(
            by_address["alice@prod.example.com"][0]["Subject"].startswith(
                "Reminder: Odoo update on"
            )
        )

        # The deployment day: production's users as last read, no new read.
        reads = operations.search_count([("kind", "=", "production_users")])
        plan.with_user(self.manager)._start_day(override_reason="Test: before its time")
        starting = self._announcement(plan, "starting")
        self.assertEqual(starting.state, "sent")
        by_address = self._deliver(starting, 3)
        self.assertTrue(
            by_address["bernard@prod.example.com"][0]["Subject"].startswith(
                "Mise à jour d'Odoo en cours"
            )
        )
        plan._end_day("rolled_back", "The deployment failed.")
        self.assertEqual(plan.state, "approved")
        rolled_back = self._announcement(plan, "rolled_back")
        self.assertEqual(rolled_back.state, "sent")
        by_address = self._deliver(rolled_back, 3)
        self.assertEqual(
            by_address["alice@prod.example.com"][0]["Subject"],
            "Odoo update undone: Odoo works as before",
        )
        self.assertEqual(
            operations.search_count([("kind", "=", "production_users")]), reads
        )

        # Scheduled again, then back to development: no date to tell.
        plan.action_schedule()
        self.run_reads()
        self._deliver(self._announcement(plan, "scheduled"), 3)
        plan.action_back_to_development("The stamp hides the total.")
        self.assertEqual(plan.state, "development")
        postponed = self._announcement(plan, "postponed")
        self.assertFalse(postponed.scheduled_for)
        self.assertEqual(postponed.previous_scheduled_at, later)
        self.run_reads()
        by_address = self._deliver(postponed, 3)
        body = html_of(by_address["bernard@prod.example.com"][0])
        self.assertIn("Sa nouvelle date sera annoncée", body)
        body = html_of(by_address["alice@prod.example.com"][0])
        self.assertIn("Its new date will be announced", body)
        self.assertEqual(
            by_address["alice@prod.example.com"][0]["Subject"],
            "Odoo update rescheduled",
        )

    def test_deployment_day_completed(self):
        """The day starts and ends well: "starting" then "completed", told
        to the people last read, with what is new and who helps."""
        plan = self._approved(fields.Datetime.now() + timedelta(days=4))
        plan.support_user_ids = self.deployer
        plan.action_schedule()
        self.run_reads()
        self._deliver(self._announcement(plan, "scheduled"), 3)
        # Its cancelled read does not bring it back.
        cancelled = self.env["deployment.announcement"].create(
            {"plan_id": plan.id, "kind": "reminder", "scheduled_for": plan.scheduled_at}
        )
        cancelled.with_user(self.manager).action_read_recipients()
        cancelled.with_user(self.deployer).action_cancel()
        self.run_queue()
        self.assertEqual(cancelled.state, "cancelled")
        self.assertTrue(cancelled.recipient_ids)
        self.assertFalse(cancelled.recipient_ids.mail_id)

        plan.with_user(self.manager)._start_day(override_reason="Test: before its time")
        self._deliver(self._announcement(plan, "starting"), 3)
        plan._finish_day()
        self.assertEqual(plan.state, "hypercare")
        completed = self._announcement(plan, "completed")
        self.assertEqual(completed.state, "sent")
        by_address = self._deliver(completed, 3)
        message = by_address["alice@prod.example.com"][0]
        self.assertEqual(
            message["Subject"], "Odoo update completed: you can work again"
        )
        body = html_of(message)
        self.assertIn("A stamp on every invoice", body)
        self.assertIn("If something does not work as before, tell Deployer Test", body)
        message = by_address["bernard@prod.example.com"][0]
        self.assertEqual(
            message["Subject"],
            "Mise à jour d'Odoo terminée : vous pouvez de nouveau travailler",
        )
        self.assertIn("prévenez Deployer Test", html_of(message))

    def test_banner_in_production(self):
        """With the reminder, a banner is written into production's database
        (an extension of the web client's page, its text escaped, the
        servers' caches signalled) through an operation; the deployment day's
        end removes it."""
        plan = self._approved(fields.Datetime.now() + timedelta(days=4))
        plan.write(
            {
                "announcement_banner": True,
                "announcement_banner_text": "Odoo stops <Thursday> at 8 pm & "
                "restarts at 9 pm",
                "announcement_reminder_hours": 120,
            }
        )
        plan.action_schedule()
        self.run_reads()
        signal = "SELECT last_value FROM base_cache_signaling_templates"
        (before,) = query(DB, signal)[0]
        plan._cron_announcement_reminders()
        banner = self.last_operation(kind="production_banner")
        self.assertEqual(banner.plan_id, plan)
        self.run_reads()
        self.assertEqual(banner.state, "done", banner.error_message)
        self.assertTrue(plan.announcement_banner_shown)
        rows = query(
            DB,
            "SELECT v.arch_db->>'en_US', v.mode, v.active, d.name "
            "FROM ir_ui_view v JOIN ir_model_data d "
            "ON d.model = 'ir.ui.view' AND d.res_id = v.inherit_id "
            "WHERE v.key = 'deployment_manager.announcement_banner'",
        )
        self.assertEqual(len(rows), 1)
        arch, mode, active, parent = rows[0]
        self.assertEqual(
            (mode, active, parent), ("extension", True, "webclient_bootstrap")
        )
        self.assertIn(
            "Odoo stops &lt;Thursday&gt; at 8 pm &amp; restarts at 9 pm", arch
        )
        (after,) = query(DB, signal)[0]
        self.assertGreater(after, before, "the servers read their templates again")
        # Written again (the reminder of a new date): still one banner.
        plan._banner(True)
        self.run_reads()
        self.assertEqual(
            query(
                DB,
                "SELECT count(*) FROM ir_ui_view "
                "WHERE key = 'deployment_manager.announcement_banner'",
            ),
            [(1,)],
        )

        plan.with_user(self.manager)._start_day(override_reason="Test: before its time")
        plan._finish_day()
        self.run_reads()
        self.assertEqual(self.last_operation(kind="production_banner").state, "done")
        self.assertFalse(plan.announcement_banner_shown)
        self.assertEqual(
            query(
                DB,
                "SELECT count(*) FROM ir_ui_view "
                "WHERE key = 'deployment_manager.announcement_banner'",
            ),
            [(0,)],
        )

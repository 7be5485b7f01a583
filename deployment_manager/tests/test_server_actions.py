# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import xmlrpc.client

from odoo.tests import new_test_user, tagged

from .test_access import AccessRpcCase

# The kinds a server action may run: those that need no parameters.
OFFERED_KINDS = {
    "discover",
    "service_status",
    "backup",
    "log_check",
    "replicate",
    "drift_report",
    "apply_configuration",
    "align_modules",
    "fetch_host_key",
    "test_connection",
    "remove_leftovers",
}


class ServerActionCase(AccessRpcCase):
    """An administrator who is a deployment manager, and an isolated development
    environment ready to be backed up and to have its log checked."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        new_test_user(
            cls.env,
            login="dm_sa_admin",
            groups="base.group_system,deployment_manager.group_deployment_manager",
            name="Administrator Test",
        )
        cls.development.write(
            {"backup_dir": "/var/backups/development", "log_file": "/var/log/odoo.log"}
        )
        cls.environment_model_id = cls.env["ir.model"]._get_id("deployment.environment")

    def run_action(self, login, action, records):
        """Run a server action as ``login`` on ``records``, as the Actions menu does."""
        return self.rpc(
            login,
            "ir.actions.server",
            "run",
            [action.id if hasattr(action, "id") else action],
            context={
                "active_model": records._name,
                "active_id": records[:1].id,
                "active_ids": records.ids,
            },
        )

    def refusal(self, call, *args, **kwargs):
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            call(*args, **kwargs)
        return caught.exception.faultString

    def operations(self, environment=None, **domain):
        domain = [(key, "=", value) for key, value in domain.items()]
        if environment is not None:
            domain.append(("environment_id", "=", environment.id))
        return self.env["deployment.operation"].search(domain, order="id")

    def create_action(self, **vals):
        """Create a server action of the deployment kind over RPC, as the admin."""
        return self.rpc(
            "dm_sa_admin",
            "ir.actions.server",
            "create",
            {
                "name": "Deployment action",
                "model_id": self.environment_model_id,
                "state": "deployment_operation",
                **vals,
            },
        )


@tagged("post_install", "-at_install")
class TestServerActions(ServerActionCase):
    """Operations in the Actions menu: queued as the user who runs them, with the
    buttons' checks."""

    def test_action_created_over_rpc_queues_the_operation(self):
        """An administrator creates a Back up action over RPC and puts it in the
        Actions menu; a deployment user runs it on a development environment: a
        backup of that environment is queued, requested by that user."""
        action_id = self.create_action(
            name="Back up now",
            deployment_operation_kind="backup",
            groups_id=[(6, 0, self.env.ref(self.user_group).ids)],
        )
        self.rpc("dm_sa_admin", "ir.actions.server", "create_action", [action_id])
        menu = self.env["ir.actions.actions"].with_user(self.user)
        self.assertIn(
            "Back up now",
            [a["name"] for a in menu.get_bindings("deployment.environment")["action"]],
        )
        result = self.run_action("dm_deploy_user", action_id, self.development)
        operation = self.env["deployment.operation"].browse(result["res_id"])
        self.assertEqual(operation.kind, "backup")
        self.assertEqual(operation.environment_id, self.development)
        self.assertEqual(operation.host_id, self.isolated)
        self.assertEqual(operation.requested_by_id, self.user)
        self.assertEqual(operation.state, "queued")

    user_group = "deployment_manager.group_deployment_user"

    def test_shipped_actions(self):
        """Discover, Back up and Check the log are in every deployment user's Actions
        menu of environments, Replicate production in managers' only, none in an
        employee's outside the Deployment groups; Check the log queues a log
        check."""

        def menu(user):
            bindings = (
                self.env["ir.actions.actions"]
                .with_user(user)
                .get_bindings("deployment.environment")
            )
            return {action["name"] for action in bindings.get("action", [])}

        shipped = {"Discover", "Back up", "Check the log", "Replicate production"}
        self.assertEqual(menu(self.manager) & shipped, shipped)
        self.assertEqual(
            menu(self.user) & shipped, {"Discover", "Back up", "Check the log"}
        )
        self.assertFalse(menu(self.stranger) & shipped)
        check_log = self.env.ref(
            "deployment_manager.action_server_environment_check_log"
        )
        self.run_action("dm_deploy_user", check_log, self.development)
        operation = self.operations(self.development)
        self.assertEqual(operation.kind, "log_check")
        self.assertEqual(operation.requested_by_id, self.user)

    def test_several_records_one_operation_each(self):
        """Run on several environments, an action queues one operation on each and
        answers with a notification."""
        discover = self.env.ref("deployment_manager.action_server_environment_discover")
        targets = self.development | self.recovery
        result = self.run_action("dm_manager", discover, targets)
        self.assertEqual(result["tag"], "display_notification")
        operations = self.operations(kind="discover", requested_by_id=self.manager.id)
        self.assertEqual(operations.environment_id, targets)

    def test_refused_users_queue_nothing(self):
        """An employee outside the Deployment groups, a user asking for a manager's
        operation, a user including production in a selection and a backup
        without a backup directory are refused, saying why; nothing is
        queued."""
        backup = self.env.ref("deployment_manager.action_server_environment_backup")
        message = self.refusal(self.run_action, "dm_stranger", backup, self.development)
        self.assertIn("enough access rights", message)
        replicate_id = self.create_action(
            name="Replicate for everyone",
            deployment_operation_kind="replicate",
            groups_id=[(6, 0, self.env.ref(self.user_group).ids)],
        )
        message = self.refusal(
            self.run_action, "dm_deploy_user", replicate_id, self.development
        )
        self.assertIn("Only deployment managers may run this operation", message)
        discover = self.env.ref("deployment_manager.action_server_environment_discover")
        message = self.refusal(
            self.run_action,
            "dm_deploy_user",
            discover,
            self.development | self.production,
        )
        self.assertIn("Only deployment managers", message)
        self.development.backup_dir = False
        message = self.refusal(self.run_action, "dm_manager", backup, self.development)
        self.assertIn("Set the backup directory first", message)
        self.assertFalse(self.operations())

    def test_busy_target(self):
        """A second operation on a busy environment is refused with the busy one's
        description."""
        backup = self.env.ref("deployment_manager.action_server_environment_backup")
        self.run_action("dm_manager", backup, self.development)
        message = self.refusal(self.run_action, "dm_manager", backup, self.development)
        self.assertIn("is busy", message)
        self.assertEqual(len(self.operations(self.development)), 1)

    def test_offered_kinds(self):
        """The kinds offered are the operation kinds that need no parameters, with the
        operations' own labels; a kind that needs them cannot be chosen."""
        offered = self.rpc(
            "dm_sa_admin",
            "ir.actions.server",
            "fields_get",
            ["deployment_operation_kind"],
            attributes=["selection"],
        )["deployment_operation_kind"]["selection"]
        self.assertEqual({kind for kind, _label in offered}, OFFERED_KINDS)
        labels = dict(
            self.env["deployment.operation"]
            ._fields["kind"]
            ._description_selection(self.env)
        )
        self.assertEqual(dict(offered), {kind: labels[kind] for kind in OFFERED_KINDS})
        for kind in ("restore", "deployment_run", "rollback", "verify_backup"):
            with self.subTest(kind=kind):
                self.refusal(self.create_action, deployment_operation_kind=kind)

    def test_target_must_match_the_kind(self):
        """An operation on a host cannot be configured on environments (nor on a
        chosen environment), one on an environment not on hosts, and a chosen
        environment must be chosen; on hosts a host operation runs."""
        host_model_id = self.env["ir.model"]._get_id("deployment.host")
        for vals, expected in (
            ({"deployment_operation_kind": "test_connection"}, "runs on a host"),
            (
                {
                    "deployment_operation_kind": "fetch_host_key",
                    "deployment_target": "environment",
                    "deployment_environment_id": self.development.id,
                },
                "runs on a host",
            ),
            (
                {"deployment_operation_kind": "backup", "model_id": host_model_id},
                "runs on an environment",
            ),
            (
                {
                    "deployment_operation_kind": "backup",
                    "deployment_target": "environment",
                },
                "Choose the environment",
            ),
        ):
            with self.subTest(**vals):
                message = self.refusal(self.create_action, **vals)
                self.assertIn(expected, message)
        action_id = self.create_action(
            deployment_operation_kind="test_connection", model_id=host_model_id
        )
        self.run_action("dm_manager", action_id, self.isolated)
        operation = self.operations(kind="test_connection")
        self.assertEqual(operation.host_id, self.isolated)
        self.assertFalse(operation.environment_id)
        self.assertEqual(operation.requested_by_id, self.manager)

    def test_runs_with_the_users_own_rights(self):
        """Server actions run as the system; the operation is requested with the
        rights of the user who runs the action: another company's environment
        stays out of reach."""
        other = self.env["res.company"].create({"name": "Company B"})
        host = self._ssh_host_record("B's server", "127.0.0.5")
        host.company_id = other
        elsewhere = self.env["deployment.environment"].create(
            {
                "name": "B's development",
                "environment_type": "development",
                "host_id": host.id,
                "company_id": other.id,
                "db_name": "b_dev",
                "log_file": "/var/log/odoo.log",
            }
        )
        action_id = self.create_action(
            deployment_operation_kind="log_check",
            deployment_target="environment",
            deployment_environment_id=elsewhere.id,
        )
        self.refusal(self.run_action, "dm_manager", action_id, self.development)
        self.assertFalse(self.operations())

    def test_scheduled_action_on_a_chosen_environment(self):
        """A scheduled action checks a chosen environment's log as the scheduled
        action's user; one "on the record" is refused: it has none."""
        cron_vals = {
            "name": "Nightly log check",
            "model_id": self.environment_model_id,
            "state": "deployment_operation",
            "deployment_operation_kind": "log_check",
            "user_id": self.manager.id,
            "interval_number": 1,
            "interval_type": "days",
        }
        message = self.refusal(self.rpc, "dm_sa_admin", "ir.cron", "create", cron_vals)
        self.assertIn("runs on no record", message)
        cron_id = self.rpc(
            "dm_sa_admin",
            "ir.cron",
            "create",
            dict(
                cron_vals,
                deployment_target="environment",
                deployment_environment_id=self.development.id,
            ),
        )
        # What the scheduler does when the action is due.
        cron = self.env["ir.cron"].browse(cron_id)
        cron.with_user(cron.user_id)._callback(cron.name, cron.ir_actions_server_id.id)
        operation = self.operations(self.development)
        self.assertEqual(operation.kind, "log_check")
        self.assertEqual(operation.requested_by_id, self.manager)


@tagged("post_install", "-at_install")
class TestAutomationRules(ServerActionCase):
    """Operations in automation rules: queued as the user whose change triggered
    them, or as the scheduler's user for a time-based rule."""

    def create_rule(self, kind, trigger="on_create_or_write", watched=(), **vals):
        fields = self.env["ir.model.fields"]
        return self.rpc(
            "dm_sa_admin",
            "base.automation",
            "create",
            {
                "name": f"Rule {kind}",
                "model_id": self.environment_model_id,
                "trigger": trigger,
                "trigger_field_ids": [
                    (
                        6,
                        0,
                        [fields._get("deployment.environment", f).id for f in watched],
                    )
                ],
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            # The rule's form computes it (see test below).
                            "name": f"Action {kind}",
                            "model_id": self.environment_model_id,
                            "usage": "base_automation",
                            "state": "deployment_operation",
                            "deployment_operation_kind": kind,
                        },
                    )
                ],
                **vals,
            },
        )

    def write_environment(self, login, vals):
        self.rpc(login, "deployment.environment", "write", [self.development.id], vals)
        self.env.invalidate_all()

    def test_rule_on_save_queues_as_the_user_who_saved(self):
        """A rule watching the log file checks the log when a manager changes it,
        as that manager; other changes run nothing."""
        self.create_rule("log_check", watched=["log_file"])
        self.write_environment("dm_manager", {"db_name": "development_renamed"})
        self.assertFalse(self.operations())
        self.write_environment("dm_manager", {"log_file": "/var/log/odoo/dev.log"})
        operation = self.operations(self.development)
        self.assertEqual(operation.kind, "log_check")
        self.assertEqual(operation.requested_by_id, self.manager)

    def test_time_based_rule_runs_as_the_scheduler_user(self):
        """A time-based rule queues its operation as the user of the scheduled action
        that checks the rules: OdooBot, a deployment manager."""
        self.create_rule(
            "discover",
            trigger="on_time_created",
            filter_domain=repr([("id", "=", self.development.id)]),
            trg_date_range=0,
        )
        scheduler = self.env.ref("base_automation.ir_cron_data_base_automation_check")
        self.assertEqual(scheduler.user_id, self.env.ref("base.user_root"))
        self.env["base.automation"].with_user(scheduler.user_id)._check()
        operation = self.operations(self.development)
        self.assertEqual(operation.kind, "discover")
        self.assertEqual(operation.requested_by_id, scheduler.user_id)

    def test_a_refusal_is_noted_not_raised(self):
        """A rule that cannot queue its operation (the environment is busy, a setting
        is missing) lets the change through and notes why on the environment:
        a rule never refuses the change that triggered it, the operations'
        own writes of their results included."""
        self.create_rule("backup", watched=["log_file"])
        busy = self.env["deployment.operation"].with_user(self.manager)
        busy._request("discover", environment=self.development)
        self.write_environment("dm_manager", {"log_file": "/var/log/a.log"})
        self.assertEqual(self.development.log_file, "/var/log/a.log")
        self.assertEqual(self.operations(self.development).kind, "discover")
        notes = self.development.message_ids.mapped("body")
        self.assertIn("is busy", notes[0])
        self.assertIn("Rule backup", notes[0])
        self.operations(self.development).with_user(self.manager).action_cancel()
        self.development.backup_dir = False
        self.write_environment("dm_manager", {"log_file": "/var/log/b.log"})
        self.assertEqual(self.development.log_file, "/var/log/b.log")
        self.assertFalse(self.operations(self.development, kind="backup"))
        self.assertIn(
            "Set the backup directory first",
            self.development.message_ids.mapped("body")[0],
        )

    def test_rules_that_would_loop_are_refused(self):
        """A rule running an operation on every save (the operation's own writes
        would run it again) or on a record being deleted is refused."""
        message = self.refusal(self.create_rule, "discover")
        self.assertIn("name the fields whose change runs it", message)
        message = self.refusal(self.create_rule, "discover", trigger="on_unlink")
        self.assertIn("being deleted", message)

    def test_rule_action_named_after_its_operation(self):
        """In a rule's form, an action is named after its operation and the
        environment it runs on."""
        rule = self.env["base.automation"].browse(
            self.create_rule("discover", watched=["log_file"])
        )
        action = self.env["ir.actions.server"].new(
            {
                "base_automation_id": rule.id,
                "model_id": self.environment_model_id,
                "state": "deployment_operation",
                "deployment_operation_kind": "backup",
            }
        )
        self.assertEqual(action.name, "Backup")
        action.deployment_target = "environment"
        action.deployment_environment_id = self.development
        self.assertEqual(action.name, "Backup on Development")

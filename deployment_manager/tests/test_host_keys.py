# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo.tests import TransactionCase, tagged

from ..remote.tests.sshd_rig import SshdHost
from .common import DeploymentTestMixin


@tagged("post_install", "-at_install")
class TestHostKeys(DeploymentTestMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_users()
        cls.sshd = cls._start_sshd("127.0.0.2")

    def test_fetch_shows_fingerprint_and_pins_only_on_confirmation(self):
        """Fetching the key shows its SHA256 fingerprint; nothing is trusted until a
        manager pins it.
        """
        host = self._create_ssh_host(self.sshd, pinned=False).with_user(self.manager)
        host.action_fetch_host_key()
        self.run_queue()
        operation = self.last_operation(host_id=host.id)
        self.assertEqual(operation.state, "done", operation.error_message)
        self.assertEqual(host.presented_key_fingerprint, self.sshd.host_key_fingerprint)
        self.assertEqual(host.presented_key_type, "ssh-ed25519")
        self.assertTrue(host.key_confirmation_needed)
        self.assertFalse(host.host_key_base64, "fetching alone must not pin the key")

        host.action_test_connection()
        self.run_queue()
        refused = self.last_operation(host_id=host.id)
        self.assertEqual(refused.state, "failed")
        self.assertEqual(refused.error_reason, "host_key_unknown")
        self.assertIn(self.sshd.host_key_fingerprint, refused.error_message)

        host.action_pin_host_key()
        self.assertEqual(host.host_key_fingerprint, self.sshd.host_key_fingerprint)
        self.assertFalse(host.key_confirmation_needed)
        self.assertIn(self.sshd.host_key_fingerprint, host.message_ids[0].body)

        host.action_test_connection()
        self.run_queue()
        connected = self.last_operation(host_id=host.id)
        self.assertEqual(connected.state, "done", connected.error_message)
        self.assertEqual(host.connection_state, "ok")
        self.assertIn("root", host.connection_message)
        self.assertEqual(connected.command_ids[0].command, "id -un")
        self.assertEqual(connected.command_ids[0].stdout_excerpt.strip(), "root")

    def test_changed_key_is_refused_with_both_fingerprints(self):
        """A host presenting another key than the pinned one is refused, and the error
        shows both keys.
        """
        sshd = SshdHost(address="127.0.0.4")
        sshd.start()
        self.addCleanup(sshd.stop)
        host = self._create_ssh_host(sshd).with_user(self.manager)
        pinned = sshd.host_key_fingerprint
        sshd.regenerate_host_key()
        self.assertNotEqual(pinned, sshd.host_key_fingerprint)
        host.action_test_connection()
        self.run_queue()
        operation = self.last_operation(host_id=host.id)
        self.assertEqual(operation.state, "failed")
        self.assertEqual(operation.error_reason, "host_key_changed")
        self.assertIn(pinned, operation.error_message)
        self.assertIn(sshd.host_key_fingerprint, operation.error_message)
        self.assertEqual(host.connection_state, "failed")

    def test_bad_auth_and_refused_are_told_apart(self):
        """A wrong client key and a closed port fail with their own reason; the
        requester gets an activity.
        """
        host = self._create_ssh_host(self.sshd).with_user(self.manager)
        other = SshdHost(address="127.0.0.5")
        other.start()
        self.addCleanup(other.stop)
        host.sudo().private_key = (
            other.client_key_text
        )  # a key the server does not know
        host.action_test_connection()
        self.run_queue()
        operation = self.last_operation(host_id=host.id)
        self.assertEqual(operation.error_reason, "auth")
        activity = host.activity_ids.filtered(lambda a: a.user_id == self.manager)
        self.assertTrue(activity, "the requester must get an activity for a failure")
        failed_subtype = self.env.ref("deployment_manager.mt_operation_failed")
        self.assertIn(failed_subtype, host.message_ids.subtype_id)

        closed = self._create_ssh_host(self.sshd, name="Closed port").with_user(
            self.manager
        )
        closed.sudo().write(
            {
                "port": 9,
                "host_key_type": self.sshd.host_key_type,
                "host_key_base64": self.sshd.host_key_base64,
            }
        )
        closed.action_test_connection()
        self.run_queue()
        self.assertEqual(self.last_operation(host_id=closed.id).error_reason, "refused")

    def test_changing_the_address_forgets_the_pinned_key(self):
        """A host moved to another address must prove its identity again."""
        host = self._create_ssh_host(self.sshd)
        self.assertTrue(host.host_key_base64)
        host.hostname = "127.0.0.9"
        self.assertFalse(host.host_key_base64)

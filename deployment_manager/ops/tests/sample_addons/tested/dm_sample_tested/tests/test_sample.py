import time

from odoo.tests import TransactionCase


class TestSample(TransactionCase):
    def test_partner_is_created(self):
        # Long enough for test_worker_killed to kill the manager meanwhile.
        time.sleep(3)
        partner = self.env["res.partner"].create({"name": "Sample partner"})
        self.assertEqual(partner.display_name, "Sample partner")

    def test_fails_on_purpose(self):
        self.assertEqual(
            self.env["res.partner"].search_count([("name", "=", "Nobody")]),
            1,
            "this test fails on purpose",
        )

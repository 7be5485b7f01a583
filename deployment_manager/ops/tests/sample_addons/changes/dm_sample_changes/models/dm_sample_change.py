from odoo import fields, models


class SampleChange(models.Model):
    _name = "dm.sample.change"
    _description = "Deployment manager sample change"

    name = fields.Char(required=True)

    def _send_digest(self):
        template = self.env.ref("dm_sample_changes.mail_template_sample_change")
        for record in self.search([]):
            template.send_mail(record.id)

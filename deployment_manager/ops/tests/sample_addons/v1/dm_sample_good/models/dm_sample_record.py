from odoo import fields, models


class DmSampleRecord(models.Model):
    _name = "dm.sample.record"
    _description = "Deployment manager sample record"

    name = fields.Char(required=True)
    value = fields.Integer()

from odoo import fields, models


class DmSampleRecord(models.Model):
    _name = "dm.sample.record"
    _description = "Deployment manager sample record"

    name = fields.Char(required=True)
    value = fields.Integer()
    # Filled for the existing records by the 18.0.1.1.0 post-migration.
    migrated = fields.Boolean()

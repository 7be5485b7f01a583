# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A gate in front of a record's transitions, in the shape of OCA's
``base_tier_validation``: a mixin with documented hooks, so that another
addon (freeze windows, key-user sign-offs) adds its own blockers by
overriding one method."""

from odoo import _, models
from odoo.exceptions import UserError


class DeploymentGateMixin(models.AbstractModel):
    """Refuse a transition while something blocks it, naming each blocker.

    Hooks:

    * ``_gate_blockers(transition)``: a list of texts, one per blocker
      (empty: the transition may go on). Override it and extend the list
      from ``super()``.
    * ``_gate_transition_label(transition)``: how the refusal names it.
    """

    _name = "deployment.gate.mixin"
    _description = "Gate in front of transitions"

    def _gate_blockers(self, transition):
        return []

    def _gate_transition_label(self, transition):
        return transition

    def _gate_check(self, transition):
        """Raise, naming every blocker, unless the transition may go on."""
        for record in self:
            blockers = record._gate_blockers(transition)
            if blockers:
                raise UserError(
                    _(
                        "%(record)s cannot %(transition)s yet:\n%(blockers)s",
                        record=record.display_name,
                        transition=record._gate_transition_label(transition),
                        blockers="\n".join(f"- {blocker}" for blocker in blockers),
                    )
                )

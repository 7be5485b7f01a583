# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import dataclasses

from ..ops import production_banner as banner
from ..ops.results import BannerResult
from . import access
from .base import OperationKind, register
from .requests import Request


@dataclasses.dataclass(frozen=True)
class ProductionBannerRequest(Request):
    """Show ``text`` above production's web client, or remove the banner."""

    show: bool = True
    text: str = ""


@register
class ProductionBanner(OperationKind):
    """The announcement banner in production's web client (issue 11, R2):
    written before a go-live, removed after the deployment day."""

    code = "production_banner"
    label = "Announcement banner in production"
    level = access.MANAGER
    # It writes into production's database (a view): a freeze window
    # refuses it like any other change.
    changes_target = True
    request_type = ProductionBannerRequest
    result_type = BannerResult

    def run(self, op, journal):
        request = self.request(op)
        spec = op.environment_id._spec()
        if request.show:
            return banner.show_banner(journal, journal.transport(), spec, request.text)
        return banner.remove_banner(journal, journal.transport(), spec)

    def apply_result(self, op, result):
        if op.plan_id:
            op.plan_id.sudo().announcement_banner_shown = result.shown
        if result.shown:
            return op.env._("The banner is shown in %s.", result.database)
        return op.env._("No banner in %s any more.", result.database)

# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from .. import ops
from ..ops.results import ModulesAligned
from ._from_production import FromProductionKind
from .base import register


@register
class AlignModules(FromProductionKind):
    """The environment's modules and sources made production's (D2, S2)."""

    code = "align_modules"
    label = "Align modules with production"
    button = "action_align_modules"
    result_type = ModulesAligned

    def run(self, op, journal):
        return self.from_production(op, journal, ops.align_modules, stamp=op._stamp())

    def apply_result(self, op, result):
        return op.env._(
            "Modules aligned with production: %(installed)s installed, "
            "%(upgraded)s upgraded, %(paths)s addons path(s) copied; no "
            "difference is left.",
            installed=len(result.before.to_install),
            upgraded=len(result.before.to_upgrade),
            paths=len(result.moved_paths),
        )

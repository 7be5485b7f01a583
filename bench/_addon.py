"""Imported first by every benchmark: the addon's plain-Python parts
(``deployment_manager.remote``, ``deployment_manager.ops``) become importable
without Odoo, whose import the addon's own ``__init__`` would need."""

import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if "deployment_manager" not in sys.modules:
    package = types.ModuleType("deployment_manager")
    package.__path__ = [os.path.join(ROOT, "deployment_manager")]
    sys.modules["deployment_manager"] = package

"""Pytest configuration for the plain-Python parts of deployment_manager.

``deployment_manager/__init__.py`` imports the Odoo models, which need a
running Odoo. The remote-execution core (``deployment_manager.remote``) is
tested on its own, without Odoo, so the package is registered here as a bare
namespace module: importing ``deployment_manager.remote`` then never executes
the addon's ``__init__``.
"""

import os
import sys
import types

_ADDON_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "deployment_manager"
)

if "deployment_manager" not in sys.modules:
    _package = types.ModuleType("deployment_manager")
    _package.__path__ = [_ADDON_DIR]
    sys.modules["deployment_manager"] = _package

# Odoo's own test modules live in deployment_manager/tests and need Odoo.
collect_ignore = [os.path.join(_ADDON_DIR, "tests")]

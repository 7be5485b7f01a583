# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The operation kinds: one module each, registered in this order (the order
of the ``kind`` selection). See base.OperationKind for what a kind says."""

from .base import ENVIRONMENT, HOST, REGISTRY, OperationKind, get, register, selection
from . import fetch_host_key
from . import test_connection
from . import discover
from . import service_status
from . import backup
from . import verify_backup
from . import restore
from . import delete_backup
from . import log_check
from . import deployment_run
from . import rollback
from . import deployment_resume
from . import replicate
from . import drift_report
from . import apply_configuration
from . import align_modules
from . import module_tests
from . import drop_rollback_point
from . import remove_leftovers
from . import module_changes
from . import workload
from . import production_users
from . import production_banner

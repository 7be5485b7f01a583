"""Operations on environments, in plain Python (no ORM).

Each operation receives a *context* (see :class:`.context.OperationContext`)
through which it runs commands, so the journal, progress, cancellation and
re-attachment are handled by whoever drives it: the Odoo models in
production, a plain object in the tests.
"""

from .spec import EnvironmentSpec
from .context import OperationContext, OperationFailed
from .odoo_config import parse_odoo_config
from .discover import discover
from .services import service_status
from .connection import test_connection, fetch_host_key
from .logcheck import (
    Thresholds,
    analyse,
    check_log,
    parse_records,
    read_log_increment,
    signature,
)
from .backup import backup_bundle, remove_bundle, verify_bundle
from .restore import restore_bundle
from .deploy import (
    AddonsRefused,
    DeploymentFailed,
    InstallFailed,
    RollbackAvailable,
    check_addons,
    deploy_git,
    deploy_zip,
    deployment_run,
    drop_rollback_point,
    install_upgrade,
    resume_deployment,
    rollback,
    rollback_point,
    start_odoo,
    stop_odoo,
    undeploy,
    wait_healthy,
)
from .rollback import rollback_point_sizes
from .retention import drop_old_copies, remove_leftovers
from .neutralize import NeutralizationFailed, neutralize, verify_neutralization
from .replicate import replicate
from .module_tests import parse_test_log, run_module_tests
from .config_sync import apply_configuration, drift, drift_report
from .align import (
    AlignmentFailed,
    align_modules,
    describe_difference,
    module_difference,
    module_inventory,
)

from . import deployment_restore_wizard
from . import deployment_run_wizard
from . import deployment_ignore_wizard
from . import deployment_test_wizard
from . import deployment_plan_reason_wizard
from . import deployment_day_wizard

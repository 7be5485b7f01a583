from . import deployment_host
from . import deployment_environment
from . import deployment_environment_module
from . import deployment_operation
from . import deployment_operation_step
from . import deployment_operation_command
from . import deployment_backup
from . import deployment_log_finding

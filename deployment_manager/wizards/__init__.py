from . import deployment_restore_wizard

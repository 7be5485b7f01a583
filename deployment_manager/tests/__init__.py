from . import test_validation
from . import test_access
from . import test_host_keys
from . import test_discover
from . import test_operations
from . import test_reconcile
from . import test_tour
from . import test_worker_killed

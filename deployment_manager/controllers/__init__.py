from . import main
from . import acceptance

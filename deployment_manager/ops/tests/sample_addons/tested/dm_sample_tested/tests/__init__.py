from . import test_sample

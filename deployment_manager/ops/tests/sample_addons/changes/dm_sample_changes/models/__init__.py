from . import dm_sample_change

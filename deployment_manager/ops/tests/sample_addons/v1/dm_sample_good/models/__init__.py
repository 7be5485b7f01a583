from . import dm_sample_record

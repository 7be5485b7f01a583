def migrate(cr, version):
    """Mark the records that existed before 18.0.1.1.0 and say it happened."""
    cr.execute("UPDATE dm_sample_record SET migrated = TRUE")
    cr.execute(
        "INSERT INTO ir_config_parameter (key, value) "
        "VALUES ('dm_sample_good.migrated_to', '18.0.1.1.0') "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    )

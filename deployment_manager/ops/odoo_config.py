import configparser

# The options discovery reports; everything else in the file stays there.
INTERESTING_OPTIONS = (
    "addons_path",
    "data_dir",
    "db_host",
    "db_port",
    "db_user",
    "db_name",
    "logfile",
    "http_port",
    "workers",
)


def parse_odoo_config(text):
    """The ``[options]`` section of an Odoo configuration file, as a dict.

    Odoo reads the file with ConfigParser without interpolation; do the same
    so a password containing '%' is not an error.
    """
    parser = configparser.RawConfigParser(strict=False)
    parser.read_string(text)
    if not parser.has_section("options"):
        return {}
    return dict(parser.items("options"))


def split_addons_path(value):
    return [part.strip() for part in (value or "").split(",") if part.strip()]

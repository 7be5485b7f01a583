import posixpath
from dataclasses import dataclass, field


@dataclass
class EnvironmentSpec:
    """What it takes to operate one Odoo environment; every value already validated."""

    name: str
    odoo_argv: list = field(default_factory=lambda: ["odoo"])
    config_path: str | None = None
    db_name: str | None = None
    db_host: str | None = None
    db_port: int | None = None
    db_user: str | None = None
    db_password: str | None = None
    data_dir: str | None = None
    addons_paths: list = field(default_factory=list)
    log_file: str | None = None
    backup_dir: str | None = None
    odoo_status_argv: list = field(default_factory=list)
    pg_status_argv: list = field(default_factory=list)
    odoo_stop_argv: list = field(default_factory=list)
    odoo_start_argv: list = field(default_factory=list)
    odoo_restart_argv: list = field(default_factory=list)
    pg_stop_argv: list = field(default_factory=list)
    pg_start_argv: list = field(default_factory=list)
    pg_restart_argv: list = field(default_factory=list)
    # The Python running Odoo (external dependencies are checked with it);
    # empty: derived from odoo_argv, see python_command().
    python_argv: list = field(default_factory=list)
    # Polled from the manager after a start, e.g. http://127.0.0.1:8069/web/health.
    health_url: str | None = None
    # Where operations keep their files on the host (uploads, run logs).
    work_dir: str | None = None

    def python_command(self):
        """The environment's Python: python_argv, else next to the odoo program.

        ``/opt/odoo/venv/bin/odoo`` gives ``/opt/odoo/venv/bin/python``;
        ``/opt/odoo/venv/bin/python3 /opt/odoo/odoo-bin`` gives its first word.
        """
        if self.python_argv:
            return list(self.python_argv)
        program = self.odoo_argv[0] if self.odoo_argv else ""
        if posixpath.basename(program).startswith("python"):
            return [program]
        if program.startswith("/"):
            return [posixpath.join(posixpath.dirname(program), "python")]
        return ["python3"]

    def psql_argv(self, sql):
        """psql on the environment's database; the SQL is a constant of ours."""
        argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
        if self.db_host:
            argv += ["-h", self.db_host]
        if self.db_port:
            argv += ["-p", str(self.db_port)]
        if self.db_user:
            argv += ["-U", self.db_user]
        argv += ["-d", self.db_name, "-c", sql]
        return argv

    def db_env(self):
        """Environment variables for PostgreSQL clients.

        The password goes there: never in argv.
        """
        return {"PGPASSWORD": self.db_password} if self.db_password else None

    def filestore_path(self):
        if self.data_dir and self.db_name:
            return f"{self.data_dir}/filestore/{self.db_name}"
        return None

    def pg_connection_args(self):
        """-h/-p/-U for PostgreSQL client programs, as far as they are set."""
        args = []
        if self.db_host:
            args += ["-h", self.db_host]
        if self.db_port:
            args += ["-p", str(self.db_port)]
        if self.db_user:
            args += ["-U", self.db_user]
        return args

    def db_secrets(self):
        """What must be masked wherever a PostgreSQL client's output is kept."""
        return [self.db_password] if self.db_password else []

    def script_psql_argv(self, database, variables=(), separator=None):
        """psql on ``database`` of the environment's cluster, its SQL read
        from stdin.

        ``variables`` are (name, value) pairs passed with ``-v``; the SQL (a
        constant of ours, sent as stdin because ``-c`` does not interpolate)
        refers to them as :'name' (a literal) or :"name" (an identifier), so
        psql quotes the values itself. ``separator`` separates the fields of
        a row (``|`` by default).
        """
        argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
        if separator:
            argv += ["-F", separator]
        argv += self.pg_connection_args()
        for name, value in variables:
            argv += ["-v", f"{name}={value}"]
        return [*argv, "-d", database, "-f", "-"]

    def admin_psql_argv(self, variables=()):
        """psql on the maintenance database ``postgres`` (see script_psql_argv)."""
        return self.script_psql_argv("postgres", variables)

"""PostgreSQL as the tests see it: the real ``psql`` and ``dropdb``, on the
main cluster or on the one listening on ``port``."""

import subprocess


def _port_args(port):
    return ["-p", str(port)] if port else []


def psql(db, sql, port=None):
    """Rows of a query as lists of text."""
    argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
    output = subprocess.run(
        [*argv, *_port_args(port), "-d", db, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split("|") for line in output.splitlines() if line]


def databases_like(prefix, port=None):
    """The databases named ``prefix`` or ``prefix_…``."""
    return [
        row[0]
        for row in psql("postgres", "SELECT datname FROM pg_database", port)
        if row[0] == prefix or row[0].startswith(prefix + "_")
    ]


def drop_database(name, port=None):
    subprocess.run(
        ["dropdb", *_port_args(port), "--if-exists", "--force", "--", name],
        check=True,
        capture_output=True,
    )

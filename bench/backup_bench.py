"""Benchmark of the backup bundle against pg_dump + tar done by hand.

Generates, on the local PostgreSQL cluster, a database of a realistic size
(journal items, chatter messages, products with translated jsonb names, a
fake ``ir_module_module``) and an Odoo filestore of many small files
(``filestore/<db>/xx/<sha1>``, random bytes), then times on that same data,
page cache warm:

(a) by hand: ``pg_dump -Fc -f X db`` and ``tar -cf Y -C filestore db``;
(b) by hand with the bundle's verification: (a), then ``sha256sum`` of both
    files, ``sha256sum -c`` and ``pg_restore -f /dev/null`` (the dump read
    back in full);
(c) ``backup_bundle()`` through a ``LocalTransport``: free space check,
    versions and modules, dump, filestore, config copy, checksums, manifest,
    then verification (checksums recomputed, ``pg_restore -f /dev/null``).

and prints each time, the sizes and the ratios "bundle / raw". The database
and the files are removed at the end unless ``--keep``. Run from the
repository root, as a PostgreSQL superuser (peer authentication):

    python3 bench/backup_bench.py [--db-mb 1000] [--files 20000] [--keep]
"""

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import _addon  # noqa: F401 - before the addon is imported

from deployment_manager.ops.backup import backup_bundle
from deployment_manager.ops.context import SimpleContext
from deployment_manager.ops.spec import EnvironmentSpec
from deployment_manager.remote.local import LocalTransport

MB = 1_000_000
MARKER = "deployment_manager backup bench"
STAMP = ".backup-bench.json"
ODOO_ARGV = ["sh", "-c", "echo Odoo Server 18.0-bench", "odoo"]

SCHEMA_SQL = """
CREATE TABLE ir_module_module (
    id serial PRIMARY KEY, name varchar NOT NULL UNIQUE,
    latest_version varchar, state varchar);
CREATE TABLE product_template (
    id serial PRIMARY KEY, name jsonb NOT NULL, default_code varchar,
    list_price numeric, categ_id int, active bool, create_date timestamp);
CREATE TABLE account_move_line (
    id bigserial PRIMARY KEY, move_id int NOT NULL, account_id int,
    partner_id int, product_id int, name varchar, ref varchar,
    quantity numeric, debit numeric(16, 2), credit numeric(16, 2),
    balance numeric(16, 2), date date, parent_state varchar,
    analytic_distribution jsonb, create_uid int, create_date timestamp,
    write_uid int, write_date timestamp);
CREATE INDEX account_move_line_move_id ON account_move_line (move_id);
CREATE INDEX account_move_line_partner_id ON account_move_line (partner_id);
CREATE INDEX account_move_line_date ON account_move_line (date);
CREATE TABLE mail_message (
    id bigserial PRIMARY KEY, model varchar, res_id int, author_id int,
    message_type varchar, subject varchar, body text, tracking jsonb,
    create_date timestamp);
CREATE INDEX mail_message_model_res_id ON mail_message (model, res_id);
INSERT INTO ir_module_module (name, latest_version, state)
SELECT CASE WHEN i <= 12 THEN (ARRAY['base', 'web', 'mail', 'account',
            'sale', 'purchase', 'stock', 'hr', 'crm', 'project', 'website',
            'l10n_fr'])[i] ELSE 'custom_module_' || i END,
       '18.0.1.' || (i % 7) || '.0',
       CASE WHEN i % 5 = 0 THEN 'uninstalled' ELSE 'installed' END
FROM generate_series(1, 200) i;
INSERT INTO product_template (name, default_code, list_price, categ_id,
                              active, create_date)
SELECT jsonb_build_object('en_US', 'Product ' || i || ' ' || md5(i::text),
                          'fr_FR', 'Produit ' || i),
       'REF-' || lpad(i::text, 6, '0'), round((random() * 1000)::numeric, 2),
       1 + i % 40, i % 50 <> 0, now() - i * interval '1 minute'
FROM generate_series(1, 50000) i;
"""

# One batch of journal items, rows lo to hi (about 200 bytes a row).
MOVE_LINES_SQL = """
INSERT INTO account_move_line (move_id, account_id, partner_id, product_id,
    name, ref, quantity, debit, credit, balance, date, parent_state,
    analytic_distribution, create_uid, create_date, write_uid, write_date)
SELECT i / 4, 1 + i % 97, 1 + (i::bigint * 7919 % 50000)::int,
       1 + (i::bigint * 104729 % 50000)::int,
       'Product ' || (i % 50000) || ' - ' || substr(md5(i::text), 1, 12),
       'INV/2026/' || lpad((i / 4)::text, 7, '0'),
       1 + i % 20,
       CASE WHEN i % 2 = 0 THEN round((random() * 5000)::numeric, 2) ELSE 0 END,
       CASE WHEN i % 2 = 1 THEN round((random() * 5000)::numeric, 2) ELSE 0 END,
       round((random() * 10000 - 5000)::numeric, 2),
       date '2020-01-01' + (i / 2000),
       (ARRAY['posted', 'posted', 'posted', 'draft', 'cancel'])[1 + i % 5],
       CASE WHEN i % 3 = 0 THEN jsonb_build_object((1 + i % 30)::text, 100)
       END,
       2 + i % 40, timestamp '2020-01-01' + i * interval '7 seconds',
       2 + i % 40, timestamp '2020-01-01' + i * interval '7 seconds'
FROM generate_series({lo}, {hi}) i;
"""

# One batch of chatter messages, rows lo to hi (about 600 bytes a row).
MESSAGES_SQL = """
INSERT INTO mail_message (model, res_id, author_id, message_type, subject,
                          body, tracking, create_date)
SELECT (ARRAY['sale.order', 'account.move', 'res.partner', 'project.task',
              'helpdesk.ticket'])[1 + i % 5],
       1 + (i::bigint * 31 % 200000)::int, 3 + i % 300,
       (ARRAY['comment', 'notification', 'email'])[1 + i % 3],
       CASE WHEN i % 3 = 2 THEN 'Re: order S' || lpad((i % 99999)::text, 5, '0')
       END,
       '<p>Hello,</p><p>' || repeat(md5(i::text) || ' ', 2 + i % 8)
       || 'Please find attached the document S' || i
       || '. Do not hesitate to contact us if you have any question.</p>'
       || '<p>Best regards,<br/>Mitchell Admin</p>',
       CASE WHEN i % 4 = 1 THEN jsonb_build_object('field', 'state',
            'old', 'draft', 'new', 'sale', 'uid', 2 + i % 40) END,
       timestamp '2020-01-01' + i * interval '13 seconds'
FROM generate_series({lo}, {hi}) i;
"""
MOVE_LINES_BATCH = 300_000
MESSAGES_BATCH = 120_000


class TimedContext(SimpleContext):
    """SimpleContext that times each step and each detached command."""

    def __init__(self, work_dir):
        super().__init__(work_dir=work_dir)
        self.step_times = []
        self.detached = []  # (key, wall seconds, command's own seconds)

    @contextlib.contextmanager
    def step(self, label):
        start = time.perf_counter()
        with super().step(label):
            yield
        self.step_times.append((label, time.perf_counter() - start))

    def run_detached(self, transport, argv, key, **kwargs):
        before = (
            set(os.listdir(self.work_dir)) if os.path.isdir(self.work_dir) else set()
        )
        start = time.perf_counter()
        status = super().run_detached(transport, argv, key, **kwargs)
        wall = time.perf_counter() - start
        own = None
        for name in set(os.listdir(self.work_dir)) - before:
            # The runner writes pgid when the command starts and exit_code
            # when it ends: their mtimes give the command's own duration.
            run_dir = os.path.join(self.work_dir, name)
            with contextlib.suppress(OSError):
                own = os.path.getmtime(f"{run_dir}/exit_code") - os.path.getmtime(
                    f"{run_dir}/pgid"
                )
        self.detached.append((key, wall, own))
        return status


def psql(db, sql, port, check=True):
    result = subprocess.run(
        ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(port)]
        + ["-d", db, "-c", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode:
        raise RuntimeError(f"psql failed: {result.stderr.strip()}")
    return result.stdout.strip()


def db_comment(db, port):
    """The comment of the database, or None if it does not exist."""
    row = psql(
        "postgres",
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') "
        f"FROM pg_database WHERE datname = '{db}'",
        port,
    )
    return row.splitlines()[0] if row else None


def generate_database(db, port, target_mb):
    subprocess.run(["createdb", "-p", str(port), db], check=True)
    psql(db, f"COMMENT ON DATABASE {db} IS '{MARKER}: incomplete'", port)
    psql(db, SCHEMA_SQL, port)
    move_lo = message_lo = 1
    size = int(psql(db, "SELECT pg_database_size(current_database())", port))
    per_batch = None  # bytes a full batch adds, known after the first one
    while size < target_mb * MB:
        share = 1.0
        if per_batch:
            share = max(0.05, min(1.0, (target_mb * MB - size) / per_batch))
        moves = int(MOVE_LINES_BATCH * share)
        messages = int(MESSAGES_BATCH * share)
        # One batch of each table at once: two backends, two cores.
        procs = [
            subprocess.Popen(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(port)]
                + ["-d", db, "-c", sql.format(lo=lo, hi=lo + rows - 1)],
                stdout=subprocess.DEVNULL,
            )
            for sql, lo, rows in (
                (MOVE_LINES_SQL, move_lo, moves),
                (MESSAGES_SQL, message_lo, messages),
            )
        ]
        if any(proc.wait() for proc in procs):
            raise RuntimeError("generating the database failed")
        move_lo += moves
        message_lo += messages
        before, size = (
            size,
            int(psql(db, "SELECT pg_database_size(current_database())", port)),
        )
        per_batch = per_batch or size - before
    # Hint bits and visibility map set now, not by whichever run reads first.
    psql(db, "VACUUM (FREEZE, ANALYZE)", port)
    psql(db, "CHECKPOINT", port)
    psql(db, f"COMMENT ON DATABASE {db} IS '{MARKER}: {target_mb} MB'", port)


def generate_filestore(path, count):
    """``count`` files of 1-64 KB of random bytes in 256 directories."""
    rng = random.Random(18)
    total = 0
    for index in range(count):
        data = rng.randbytes(rng.randint(1024, 64 * 1024))
        digest = hashlib.sha1(data).hexdigest()
        directory = os.path.join(path, digest[:2])
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, digest), "wb") as handle:
            handle.write(data)
        total += len(data)
        if index % 5000 == 4999:
            print(f"  {index + 1:,} files", flush=True)
    return total


def tree_size(path):
    files = total = 0
    for directory, _dirs, names in os.walk(path):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(directory, name))
    return files, total


def warm_up(db, port, filestore):
    """Page cache warm for everyone: read every table and every file once."""
    for table in ("account_move_line", "mail_message", "product_template"):
        psql(db, f"SELECT count(*) FROM (SELECT * FROM {table}) t", port)
    for directory, _dirs, names in os.walk(filestore):
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:
                handle.read()


def timed(argv, **kwargs):
    start = time.perf_counter()
    subprocess.run(argv, check=True, **kwargs)
    return time.perf_counter() - start


def run_raw(db, port, data_dir, out):
    """(a) and (b) by hand; {step: seconds} and the two file paths."""
    os.makedirs(out)
    dump, tar, sums = f"{out}/database.dump", f"{out}/filestore.tar", f"{out}/SUMS"
    times = {
        "pg_dump -Fc": timed(["pg_dump", "-Fc", "-p", str(port), "-f", dump, db]),
        "tar -cf filestore": timed(
            ["tar", "-cf", tar, "-C", f"{data_dir}/filestore", db]
        ),
    }
    with open(sums, "w") as handle:
        times["sha256sum (record)"] = timed(["sha256sum", dump, tar], stdout=handle)
    times["sha256sum -c"] = timed(
        ["sha256sum", "--quiet", "-c", sums], stdout=subprocess.DEVNULL
    )
    times["pg_restore -f /dev/null"] = timed(["pg_restore", "-f", "/dev/null", dump])
    return times, dump, tar


def run_bundle(db, port, data_dir, config, out):
    """(c): the whole backup_bundle(); (seconds, manifest, context)."""
    os.makedirs(out)
    spec = EnvironmentSpec(
        name="bench",
        odoo_argv=list(ODOO_ARGV),
        config_path=config,
        db_name=db,
        db_port=port,
        data_dir=data_dir,
        backup_dir=f"{out}/backups",
    )
    ctx = TimedContext(work_dir=f"{out}/runs")
    start = time.perf_counter()
    with LocalTransport() as transport:
        manifest = backup_bundle(
            ctx, transport, spec, f"{out}/backups/bench", meta={"who": "bench"}
        )
    return time.perf_counter() - start, manifest, ctx


def prepare(args, data_dir):
    """Generate the database and the filestore, or take the kept ones."""
    filestore = f"{data_dir}/filestore/{args.db}"
    comment = db_comment(args.db, args.port)
    if comment is not None and not comment.startswith(MARKER):
        raise SystemExit(
            f"database {args.db} exists and is not this benchmark's: "
            "choose another with --db"
        )
    stamp = {"db": args.db, "db_mb": args.db_mb, "files": args.files}
    try:
        with open(f"{data_dir}/{STAMP}") as handle:
            kept = json.load(handle) == stamp
    except (OSError, ValueError):
        kept = False
    if comment != f"{MARKER}: {args.db_mb} MB" or not kept:
        if comment is not None:
            subprocess.run(["dropdb", "-p", str(args.port), args.db], check=True)
        shutil.rmtree(data_dir, ignore_errors=True)
        start = time.perf_counter()
        print(f"generating a database of about {args.db_mb} MB...", flush=True)
        generate_database(args.db, args.port, args.db_mb)
        db_time = time.perf_counter() - start
        print(f"  done in {db_time:.0f} s; generating {args.files:,} files...")
        generate_filestore(filestore, args.files)
        with open(f"{data_dir}/{STAMP}", "w") as handle:
            json.dump(stamp, handle)
        print(f"  done in {time.perf_counter() - start - db_time:.0f} s")
    else:
        print("reusing the data kept by a previous run (--keep)")
    with open(f"{data_dir}/odoo.conf", "w") as handle:
        handle.write(f"[options]\ndb_name = {args.db}\ndata_dir = {data_dir}\n")
    return filestore


def report(db, port, filestore, raw, bundle_time, manifest, ctx):
    times, dump, tar = raw
    db_size = int(psql(db, "SELECT pg_database_size(current_database())", port))
    rows = psql(
        db,
        "SELECT (SELECT count(*) FROM account_move_line) "
        "+ (SELECT count(*) FROM mail_message)",
        port,
    )
    files, file_bytes = tree_size(filestore)
    parts = {part["kind"]: part for part in manifest["parts"]}
    print(
        f"database: {db_size / MB:,.0f} MB (pg_database_size, {int(rows):,} rows), "
        f"filestore: {files:,} files, {file_bytes / MB:,.0f} MB; "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"dump: {os.path.getsize(dump) / MB:,.0f} MB by hand, "
        f"{parts['database']['size'] / MB:,.0f} MB in the bundle; "
        f"tar: {os.path.getsize(tar) / MB:,.0f} MB by hand, "
        f"{parts['filestore']['size'] / MB:,.0f} MB in the bundle"
    )
    print("by hand:")
    for label, seconds in times.items():
        print(f"  {label:<34} {seconds:7.2f} s")
    plain = times["pg_dump -Fc"] + times["tar -cf filestore"]
    verified = sum(times.values())
    print(f"  {'(a) pg_dump + tar':<34} {plain:7.2f} s")
    print(f"  {'(b) + the same verification':<34} {verified:7.2f} s")
    verdict = "ok" if manifest["verification"]["ok"] else "FAILED"
    print(f"(c) backup_bundle via LocalTransport:  {bundle_time:7.2f} s")
    for label, seconds in ctx.step_times:
        print(f"  step {label:<45} {seconds:7.2f} s")
    waited = 0.0
    for key, wall, own in ctx.detached:
        if own is not None:
            waited += wall - own
            print(f"  detached {key:<22} {wall:6.2f} s (command {own:6.2f} s)")
    print(
        f"  verification {verdict}, {manifest['verification']['checked']} parts, "
        f"{len(manifest['modules'])} modules in the manifest, "
        f"{len(ctx.commands)} commands"
    )
    print(
        f"  detached commands: {waited:.2f} s outside the commands themselves "
        "(their launch, and their end seen)"
    )
    print(f"bundle / raw dump+tar: {bundle_time / plain:.2f}x")
    print(f"bundle / raw with the same verification: {bundle_time / verified:.2f}x")
    return manifest["verification"]["ok"]


def database_name(value):
    # Written into SQL as is: a plain identifier only.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError("lower-case letters, digits and _ only")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-mb", type=int, default=1000, help="database (MB)")
    parser.add_argument("--files", type=int, default=20000, help="filestore files")
    parser.add_argument(
        "--db", type=database_name, default="dm_backup_bench", help="database name"
    )
    parser.add_argument("--port", type=int, default=5432, help="PostgreSQL port")
    parser.add_argument("--dir", default=None, help="where to write the files")
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the filestore"
    )
    args = parser.parse_args()

    base = args.dir or tempfile.gettempdir()
    data_dir = os.path.join(base, "backup-bench-data")
    work = tempfile.mkdtemp(prefix="backup-bench-", dir=base)
    ok = False
    try:
        filestore = prepare(args, data_dir)
        warm_up(args.db, args.port, filestore)
        subprocess.run(["sync"], check=True)
        raw = run_raw(args.db, args.port, data_dir, f"{work}/raw")
        subprocess.run(["sync"], check=True)
        bundle_time, manifest, ctx = run_bundle(
            args.db, args.port, data_dir, f"{data_dir}/odoo.conf", f"{work}/bundle"
        )
        ok = report(args.db, args.port, filestore, raw, bundle_time, manifest, ctx)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            if (db_comment(args.db, args.port) or "").startswith(MARKER):
                subprocess.run(["dropdb", "-p", str(args.port), args.db], check=False)
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Mail never leaves a replica, proved with a real SMTP server.

A real production (``production.py``: its own cluster, config, filestore and
running Odoo 18, here with ``mail`` installed) has an outgoing mail server
pointing at an ``aiosmtpd`` sink and mail in its queue. Its own Odoo sends
that mail to the sink (the control); fresh mail is queued, and production is
replicated into a target whose Odoo runs crons and whose configured fallback
SMTP server is the sink too, so no way out of the replica goes unseen.
"""

import dataclasses
import json
import subprocess
import time

import pytest

from ...remote import LocalTransport
from ..context import SimpleContext
from ..replicate import replicate
from . import production as rig
from .smtp_sink import SmtpSink

STAMP = "20240501000001"
QUEUE_CRON = ("mail", "ir_cron_mail_scheduler_action")
AUTOVACUUM_CRON = ("base", "autovacuum_job")

SERVER_SCRIPT = """
server = env["ir.mail_server"].create({
    "name": "Production SMTP",
    "smtp_host": %(host)r,
    "smtp_port": %(port)d,
    "smtp_encryption": "none",
})
env.cr.commit()
result = server.id
"""
# One mail finds its server by itself, the other names it (mail_server_id):
# each is a way a queued mail picks the server it goes out through.
QUEUE_SCRIPT = """
server = env["ir.mail_server"].search([("name", "=", "Production SMTP")])
mails = env["mail.mail"].create([
    {
        "subject": "%(subject)s " + str(index),
        "email_from": "shop@example.com",
        "email_to": "customer@example.com",
        "body_html": "<p>Your order</p>",
        "auto_delete": False,
        "mail_server_id": server.id if index else False,
    }
    for index in range(2)
])
env.cr.commit()
result = mails.ids
"""
SEND_SCRIPT = """
env["mail.mail"].process_email_queue()
# As the cron does after its job: a failure to connect is not committed.
env.cr.commit()
result = env["mail.mail"].search_read([], ["subject", "state", "failure_reason"])
"""


def odoo_shell(config, db, script):
    """Run ``script`` in ``odoo shell`` on ``db``; the JSON of its ``result``."""
    code = f"import json\n{script}\nprint('RESULT ' + json.dumps(result))\n"
    completed = subprocess.run(
        [rig.ODOO, "shell", "-c", config, "-d", db, "--no-http"],
        input=code,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [
        line for line in completed.stdout.splitlines() if line.startswith("RESULT ")
    ]
    assert completed.returncode == 0 and lines, completed.stderr[-2000:]
    return json.loads(lines[-1][len("RESULT ") :])


def cron(db, xmlid):
    """``(active, lastcall)`` of a scheduled action, by its XML id."""
    module, name = xmlid
    rows = rig.psql(
        db,
        "SELECT c.active, coalesce(c.lastcall::text, '') FROM ir_cron c "
        "JOIN ir_model_data d ON d.res_id = c.id AND d.model = 'ir.cron' "
        f"WHERE d.module = '{module}' AND d.name = '{name}'",
    )
    return tuple(rows[0])


def make_crons_due(db):
    """The queue's cron and the autovacuum due now, the autovacuum last: once
    it has run, a due queue cron, if active, has run before it."""
    rig.psql(
        db,
        "UPDATE ir_cron SET nextcall = now() AT TIME ZONE 'UTC' - interval '1 hour', "
        "priority = CASE WHEN d.name = 'autovacuum_job' THEN 100 ELSE priority END "
        "FROM ir_model_data d WHERE d.res_id = ir_cron.id AND d.model = 'ir.cron' "
        f"AND (d.module, d.name) IN (('{QUEUE_CRON[0]}', '{QUEUE_CRON[1]}'), "
        f"('{AUTOVACUUM_CRON[0]}', '{AUTOVACUUM_CRON[1]}'))",
    )


def mail_states(db):
    """{subject: state} of the mail in the queue of ``db``."""
    rows = rig.psql(
        db,
        "SELECT msg.subject, mail.state FROM mail_mail mail "
        "JOIN mail_message msg ON msg.id = mail.mail_message_id",
    )
    return dict(rows)


def wait_for_cron_run(db, xmlid, timeout=60):
    """Wake the crons of the server on ``db`` until ``xmlid`` has run once."""
    deadline = time.monotonic() + timeout
    while not cron(db, xmlid)[1]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{xmlid} never ran on {db}")
        # Odoo's cron threads LISTEN on the postgres database; a NOTIFY wakes
        # them at once (else they sleep a minute), once the registry is ready.
        rig.psql("postgres", f"NOTIFY cron_trigger, '{db}'")
        time.sleep(1)


def wait_until_healthy(url, timeout=60):
    deadline = time.monotonic() + timeout
    while rig.http_status(url) != 200:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _configure(config, **options):
    with open(config) as handle:
        lines = [
            line
            for line in handle.read().splitlines()
            if line.split("=")[0].strip() not in options
        ]
    lines += [f"{key} = {value}" for key, value in options.items()]
    with open(config, "w") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def prepared():
    rig.ensure_cluster()
    rig.ensure_template()


@pytest.fixture
def sink():
    with SmtpSink() as running:
        yield running


@pytest.fixture
def source(prepared, sink, tmp_path):
    """Production with ``mail``, its mail server the sink, its server running."""
    made = rig.make_production(tmp_path / "production", start=False)
    try:
        subprocess.run(
            [rig.ODOO, "-c", made.config, "-i", "mail", "--stop-after-init"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        odoo_shell(
            made.config, made.db, SERVER_SCRIPT % {"host": sink.host, "port": sink.port}
        )
        made.start()
        yield made
    finally:
        rig.remove_production(made)


@pytest.fixture
def target(prepared, sink, tmp_path):
    """An environment whose Odoo runs its crons and whose fallback SMTP server
    (Odoo's ``smtp_server``, used when no mail server is active) is the sink:
    mail leaving it by any way would reach the sink."""
    made = rig.make_production(tmp_path / "target", start=False)
    try:
        made.spec = dataclasses.replace(made.spec, name="preproduction")
        _configure(
            made.config, max_cron_threads=1, smtp_server=sink.host, smtp_port=sink.port
        )
        yield made
    finally:
        rig.remove_production(made)


def test_mail_queued_in_production_never_leaves_the_replica(source, target, sink):
    """Production's queued mail, sent by production's Odoo, is never sent by
    its neutralized replica: not by its running Odoo's crons, not when its
    queue is processed, whichever server the mail names."""
    # The control: production's own Odoo sends its queue through the sink.
    odoo_shell(source.config, source.db, QUEUE_SCRIPT % {"subject": "Production"})
    sent = odoo_shell(source.config, source.db, SEND_SCRIPT)
    assert sorted(m["state"] for m in sent) == ["sent", "sent"]
    assert sink.wait_for(2)
    assert sorted(sink.subjects()) == ["Production 0", "Production 1"]

    # Fresh mail waits, and its queue's cron is due: the replica gets both.
    odoo_shell(source.config, source.db, QUEUE_SCRIPT % {"subject": "Waiting"})
    make_crons_due(source.db)
    assert cron(source.db, QUEUE_CRON) == ("t", "")

    with LocalTransport() as local:
        result = replicate(
            SimpleContext(f"{target.root}/runs"),
            local,
            source.spec,
            local,
            target.spec,
            stamp=STAMP,
            keep_previous=False,
            neutralize=True,
            start_after=True,
        )

    assert result["odoo_started"] and target.is_active()
    # The start command returns once the process runs, not once it serves.
    assert wait_until_healthy(target.health_url)
    # The replica's Odoo runs its due crons: the autovacuum, left active by
    # the neutralization and made to run last, shows that it did.
    wait_for_cron_run(target.db, AUTOVACUUM_CRON)
    assert sorted(sink.subjects()) == ["Production 0", "Production 1"]
    # The mail production had queued is cancelled in the replica.
    assert mail_states(target.db) == {
        "Production 0": "sent",
        "Production 1": "sent",
        "Waiting 0": "cancel",
        "Waiting 1": "cancel",
    }

    # Queued again by someone, and the queue processed by hand: Odoo's own
    # neutralization still holds, every mail fails, none is sent.
    target.rows(
        "UPDATE mail_mail SET state = 'outgoing' FROM mail_message m "
        "WHERE m.id = mail_message_id AND m.subject LIKE 'Waiting %' RETURNING 1"
    )
    after = odoo_shell(target.config, target.db, SEND_SCRIPT)
    assert sorted(sink.subjects()) == ["Production 0", "Production 1"]
    reasons = {m["subject"]: m["failure_reason"] for m in after}
    assert mail_states(target.db) == {
        "Production 0": "sent",
        "Production 1": "sent",
        "Waiting 0": "exception",
        "Waiting 1": "exception",
    }, reasons
    # The one naming production's server: refused, that server is archived.
    assert "archived" in reasons["Waiting 1"]

    # What the neutralization left that holds it: no cron but the
    # autovacuum, production's server archived, a dead-end one active.
    assert result["neutralization"]["ok"]
    assert cron(target.db, QUEUE_CRON) == ("f", "")
    assert target.rows(
        "SELECT d.module || '.' || d.name FROM ir_cron c JOIN ir_model_data d "
        "ON d.res_id = c.id AND d.model = 'ir.cron' WHERE c.active"
    ) == [["base.autovacuum_job"]]
    assert target.rows(
        "SELECT name, smtp_host, active FROM ir_mail_server ORDER BY id"
    ) == [
        ["Production SMTP", sink.host, "f"],
        ["neutralization - disable emails", "invalid", "t"],
    ]

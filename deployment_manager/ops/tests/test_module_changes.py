"""What a module changed, compared on real databases (issue 11, S5).

A "before" database with Odoo's tables as far as the comparison reads them
is copied (``CREATE DATABASE … TEMPLATE``), as a rollback point is; the
original is then changed as a module's installation would, and the
comparison must report each change, never a secret parameter's value.
"""

import json
import secrets
import subprocess

import pytest

from ...remote import LocalTransport
from ..context import OperationFailed, SimpleContext
from ..module_changes import module_changes, summary
from ..results import ModuleChangesResult
from ..spec import EnvironmentSpec
from .pg import drop_database, psql
from .typed_check import typed

SECRET_VALUE = "s3cr3t-value-91bd"
OLD_SECRET_VALUE = "old-s3cr3t-value-2c4e"

BEFORE_SQL = f"""
CREATE TABLE ir_model (id serial PRIMARY KEY, model varchar NOT NULL);
INSERT INTO ir_model (model) VALUES ('res.partner'), ('x.thing'), ('mail.mail');
CREATE TABLE ir_model_data (id serial PRIMARY KEY, module varchar, name varchar,
  model varchar, res_id int, noupdate boolean, date_update timestamp,
  write_date timestamp);
INSERT INTO ir_model_data (module, name, model, res_id) VALUES
  ('x_module', 'old_partner', 'res.partner', 1),
  ('x_module', 'to_remove', 'res.partner', 2),
  ('other', 'something', 'res.partner', 3);
CREATE TABLE ir_ui_view (id serial PRIMARY KEY, name varchar, model varchar,
  type varchar, arch_db jsonb, active boolean, write_date timestamp);
INSERT INTO ir_ui_view (name, model, type, arch_db, active) VALUES
  ('partner.form', 'res.partner', 'form', '{{"en_US": "<form/>"}}', true),
  ('partner.tree', 'res.partner', 'list', '{{"en_US": "<list/>"}}', true);
CREATE TABLE ir_model_access (id serial PRIMARY KEY, name varchar, model_id int,
  group_id int, perm_read boolean, perm_write boolean, active boolean,
  write_date timestamp);
INSERT INTO ir_model_access (name, model_id, perm_read, perm_write, active)
  VALUES ('partner user', 1, true, false, true);
CREATE TABLE ir_rule (id serial PRIMARY KEY, name varchar, model_id int,
  domain_force text, active boolean, write_date timestamp);
CREATE TABLE ir_act_server (id serial PRIMARY KEY, name jsonb, model_name varchar,
  state varchar, code text);
INSERT INTO ir_act_server (name, model_name, state, code) VALUES
  ('{{"en_US": "Old job"}}', 'res.partner', 'code', 'model._old()');
CREATE TABLE ir_cron (id serial PRIMARY KEY, ir_actions_server_id int,
  cron_name varchar, interval_number int, interval_type varchar,
  active boolean, nextcall timestamp, write_date timestamp);
INSERT INTO ir_cron (ir_actions_server_id, cron_name, interval_number,
  interval_type, active) VALUES (1, 'Old job', 1, 'days', true);
CREATE TABLE mail_template (id serial PRIMARY KEY, name jsonb, model varchar,
  write_date timestamp);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL,
  value text NOT NULL, write_date timestamp);
INSERT INTO ir_config_parameter (key, value) VALUES
  ('web.base.url', 'http://old.example.com'),
  ('x_module.api_token', '{OLD_SECRET_VALUE}'),
  ('unchanged.param', 'same');
CREATE TABLE partner_note (id serial PRIMARY KEY, note varchar(20), size int);
INSERT INTO partner_note (note, size) SELECT 'n' || g, g FROM generate_series(1, 40) g;
CREATE TABLE big_log (id serial PRIMARY KEY, line text);
INSERT INTO big_log (line) SELECT repeat('x', 200) FROM generate_series(1, 100) g;
ANALYZE;
"""

# What "the module" does to the database once the rollback point is taken.
MODULE_SQL = f"""
CREATE TABLE x_thing (id serial PRIMARY KEY, name varchar NOT NULL);
INSERT INTO x_thing (name) VALUES ('a'), ('b');
ALTER TABLE partner_note ADD COLUMN x_flag boolean;
ALTER TABLE partner_note ALTER COLUMN note TYPE text;
ALTER TABLE partner_note ALTER COLUMN size SET NOT NULL;
INSERT INTO partner_note (note, size) VALUES ('new', 1);
INSERT INTO big_log (line) SELECT repeat('y', 200) FROM generate_series(1, 50) g;
INSERT INTO ir_model_data (module, name, model, res_id) VALUES
  ('x_module', 'thing_a', 'x.thing', 1), ('x_module', 'thing_b', 'x.thing', 2),
  ('x_module', 'cron_digest', 'ir.cron', 2), ('other', 'not_ours', 'x.thing', 9);
DELETE FROM ir_model_data WHERE name = 'to_remove';
UPDATE ir_model_data SET res_id = 11 WHERE name = 'old_partner';
INSERT INTO ir_ui_view (name, model, type, arch_db, active) VALUES
  ('x.thing.form', 'x.thing', 'form', '{{"en_US": "<form/>"}}', true);
UPDATE ir_ui_view SET arch_db = '{{"en_US": "<list><field name=\\"x\\"/></list>"}}'
 WHERE name = 'partner.tree';
UPDATE ir_ui_view SET write_date = now() WHERE name = 'partner.form';
INSERT INTO ir_model_access (name, model_id, perm_read, perm_write, active)
  VALUES ('x.thing user', 2, true, true, true);
INSERT INTO ir_rule (name, model_id, domain_force, active)
  VALUES ('x.thing own', 2, '[(''user_id'', ''='', user.id)]', true);
INSERT INTO ir_act_server (name, model_name, state, code) VALUES
  ('{{"en_US": "Digest"}}', 'x.thing', 'code', 'model._send_digest_mail()');
UPDATE ir_act_server SET code = 'model._send_digest_mail()' WHERE id = 2;
UPDATE ir_act_server SET code = 'records.message_post(body="hi")' WHERE id = 2;
INSERT INTO ir_cron (ir_actions_server_id, cron_name, interval_number,
  interval_type, active) VALUES (2, 'Thing digest', 2, 'hours', true);
INSERT INTO mail_template (name, model) VALUES ('{{"en_US": "Thing ready"}}',
  'x.thing');
UPDATE ir_config_parameter SET value = 'http://new.example.com'
 WHERE key = 'web.base.url';
UPDATE ir_config_parameter SET value = '{SECRET_VALUE}'
 WHERE key = 'x_module.api_token';
INSERT INTO ir_config_parameter (key, value) VALUES
  ('x_module.client_secret', '{SECRET_VALUE}'), ('x_module.mode', 'fast');
"""


def createdb(name, template=None):
    argv = ["createdb"]
    if template:
        argv += ["-T", template]
    subprocess.run([*argv, "--", name], check=True, capture_output=True)


@pytest.fixture
def databases():
    db = f"dm_mc_{secrets.token_hex(4)}"
    point = f"{db}_rb_20261130T100000"
    createdb(db)
    try:
        psql(db, BEFORE_SQL)
        createdb(point, template=db)
        yield db, point
    finally:
        drop_database(point)
        drop_database(db)


def _spec(db):
    return EnvironmentSpec(name="preproduction", db_name=db)


def test_nothing_changed(databases):
    db, point = databases
    with LocalTransport() as transport:
        result = module_changes(
            SimpleContext(), transport, _spec(db), point, ["x_module"]
        )
    typed(ModuleChangesResult, result)
    assert result["tables_added"] == [] and result["tables_dropped"] == []
    assert result["columns"] == {} and result["rows"] == {}
    assert result["records_by_model"] == {}
    for name in ("views", "scheduled_actions", "mail_templates", "parameters"):
        assert result[name] == {"added": [], "removed": [], "changed": []}
    assert not result["adds_scheduled_actions"]
    assert not result["adds_outgoing_mail"]


def test_every_change_is_reported(databases):
    db, point = databases
    psql(db, MODULE_SQL)
    with LocalTransport() as transport:
        result = module_changes(
            SimpleContext(),
            transport,
            _spec(db),
            point,
            ["x_module"],
            exact_count_limit=16 * 1024,  # big_log is over it: estimated
        )
    assert result["before"] == point and result["database"] == db
    assert result["tables_added"] == ["x_thing"]
    assert result["tables_dropped"] == []
    note = result["columns"]["partner_note"]
    assert note["added"] == [{"column": "x_flag", "type": "boolean", "null": "YES"}]
    altered = {item["column"]: item for item in note["altered"]}
    assert altered["note"]["type_before"] == "character varying(20)"
    assert altered["note"]["type_after"] == "text"
    assert altered["size"]["null_before"] == "YES"
    assert altered["size"]["null_after"] == "NO"
    assert result["rows"]["partner_note"] == {
        "before": 40,
        "after": 41,
        "exact": True,
    }
    assert result["rows"]["x_thing"] == {"before": None, "after": 2, "exact": True}
    # big_log is estimated: the estimate is ANALYZE's, unchanged without one.
    assert "big_log" not in result["rows"]
    psql(db, "ANALYZE big_log")
    with LocalTransport() as transport:
        again = module_changes(
            SimpleContext(),
            transport,
            _spec(db),
            point,
            ["x_module"],
            exact_count_limit=16 * 1024,
        )
    assert again["rows"]["big_log"] == {"before": 100, "after": 150, "exact": False}
    assert result["records_by_model"] == {
        "ir.cron": {"created": 1, "removed": 0, "changed": 0},
        "res.partner": {"created": 0, "removed": 1, "changed": 1},
        "x.thing": {"created": 2, "removed": 0, "changed": 0},
    }
    views = result["views"]
    assert [v["name"] for v in views["added"]] == ["x.thing.form"]
    # partner.form's write date alone changed: not a change.
    assert [v["name"] for v in views["changed"]] == ["partner.tree"]
    assert [a["name"] for a in result["access_rights"]["added"]] == ["x.thing user"]
    assert result["access_rights"]["added"][0]["model"] == "x.thing"
    assert [r["name"] for r in result["record_rules"]["added"]] == ["x.thing own"]
    crons = result["scheduled_actions"]
    assert crons["added"] == [
        {
            "id": 2,
            "name": "Thing digest",
            "model": "x.thing",
            "interval_number": 2,
            "interval_type": "hours",
            "active": True,
        }
    ]
    assert crons["changed"] == [] and crons["removed"] == []
    assert [t["name"] for t in result["mail_templates"]["added"]] == ["Thing ready"]
    params = result["parameters"]
    assert params["added"] == [
        {"key": "x_module.client_secret", "secret": True},
        {"key": "x_module.mode", "value": "fast"},
    ]
    assert params["changed"] == [
        {"key": "web.base.url", "value": "http://new.example.com"},
        {"key": "x_module.api_token", "secret": True},
    ]
    assert result["adds_scheduled_actions"] is True
    assert result["adds_outgoing_mail"] is True
    text = json.dumps(result)
    assert SECRET_VALUE not in text and OLD_SECRET_VALUE not in text
    line = summary(result)
    assert "1 table(s) added" in line and "Adds outgoing mail." in line
    assert "Adds scheduled actions." in line


def test_cron_without_mail_is_not_outgoing_mail(databases):
    db, point = databases
    psql(
        db,
        "INSERT INTO ir_act_server (name, model_name, state, code) VALUES "
        "('{\"en_US\": \"Clean\"}', 'x.thing', 'code', 'model._gc()');"
        "INSERT INTO ir_cron (ir_actions_server_id, cron_name, interval_number,"
        " interval_type, active) VALUES (2, 'Clean', 1, 'days', true);"
        "UPDATE ir_cron SET active = false WHERE cron_name = 'Old job';",
    )
    with LocalTransport() as transport:
        result = module_changes(
            SimpleContext(), transport, _spec(db), point, ["x_module"]
        )
    assert result["adds_scheduled_actions"] is True
    assert result["adds_outgoing_mail"] is False
    assert [c["name"] for c in result["scheduled_actions"]["changed"]] == ["Old job"]
    assert result["scheduled_actions"]["changed"][0]["active"] is False


def test_without_mail_tables(databases):
    db, point = databases
    psql(db, "DROP TABLE mail_template; DROP TABLE ir_cron")
    psql(point, "DROP TABLE mail_template; DROP TABLE ir_cron")
    with LocalTransport() as transport:
        result = module_changes(
            SimpleContext(), transport, _spec(db), point, ["x_module"]
        )
    assert result["mail_templates"] == {"added": [], "removed": [], "changed": []}
    assert result["mail_templates_compared"] is False


def test_names_are_checked(databases):
    db, point = databases
    with LocalTransport() as transport:
        with pytest.raises(OperationFailed):
            module_changes(
                SimpleContext(), transport, _spec(db), 'x"; DROP DATABASE y', []
            )
        with pytest.raises(OperationFailed):
            module_changes(
                SimpleContext(), transport, _spec(db), point, ["x_module,'; --"]
            )
        with pytest.raises(OperationFailed, match="cannot be read"):
            module_changes(SimpleContext(), transport, _spec(db), f"{db}_missing", [])

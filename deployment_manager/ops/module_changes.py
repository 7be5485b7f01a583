"""What a deployment changed in a database (issue 11, S5).

The environment's database is compared with the deployment's rollback point
(the copy taken just before): each is read once, read-only, through psql on
the environment's host, into a snapshot (one JSON document per line); the
snapshots are compared here.

What is compared: tables and columns (``information_schema``, schema
public), rows per table (an exact ``count(*)`` for tables under
``exact_count_limit`` bytes, else the planner's ``pg_class.reltuples``
estimate — each count says which), the records of the plan's modules
(``ir_model_data`` by model), views, access rights, record rules, scheduled
actions, mail templates, outgoing mail servers and system parameters.

A record "changed" when any of its columns but the audit ones
(create/write uid and date) differs. The value of a system parameter whose
key looks secret (password, secret, token, key) never leaves the database:
only a fingerprint of it is read.

Flags:

* ``adds_scheduled_actions``: a scheduled action was added, or one was made
  active;
* ``adds_outgoing_mail``: a mail template or an outgoing mail server was
  added, or a scheduled action added or made active sends mail (its model is
  a ``mail.*`` model or its code calls ``send_mail``, ``message_post``,
  ``_send`` or ``mail.mail``).
"""

import json

from .common import checked_database
from .deploy_base import _fail, _modules
from .i18n import _
from .pg import run_script

EXACT_COUNT_LIMIT = 50 * 1024 * 1024
SNAPSHOT_TIMEOUT = 1800
AUDIT = "- 'create_uid' - 'create_date' - 'write_uid' - 'write_date'"

# Read-only, one JSON document a line. :'modules' is a comma-separated list
# of checked module names, :'limit' the size under which rows are counted.
SNAPSHOT_SQL = f"""\
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;
SELECT to_regclass('public.ir_model_data') IS NOT NULL AS dm_imd,
       to_regclass('public.ir_ui_view') IS NOT NULL AS dm_view,
       to_regclass('public.ir_model_access') IS NOT NULL
         AND to_regclass('public.ir_model') IS NOT NULL AS dm_access,
       to_regclass('public.ir_rule') IS NOT NULL
         AND to_regclass('public.ir_model') IS NOT NULL AS dm_rule,
       to_regclass('public.ir_cron') IS NOT NULL
         AND to_regclass('public.ir_act_server') IS NOT NULL AS dm_cron,
       to_regclass('public.mail_template') IS NOT NULL AS dm_template,
       to_regclass('public.ir_mail_server') IS NOT NULL AS dm_server,
       to_regclass('public.ir_config_parameter') IS NOT NULL AS dm_param \\gset
SELECT jsonb_build_object('columns', coalesce(jsonb_agg(jsonb_build_array(
         c.table_name, c.column_name,
         c.data_type || coalesce('(' || c.character_maximum_length || ')', ''),
         c.is_nullable)), '[]'))::text
  FROM information_schema.columns c
  JOIN information_schema.tables t
    ON t.table_schema = c.table_schema AND t.table_name = c.table_name
 WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE';
SELECT jsonb_build_object('tables', coalesce(jsonb_object_agg(c.relname,
         CASE WHEN pg_relation_size(c.oid) < :'limit'::bigint
              THEN jsonb_build_array((xpath('/row/n/text()', query_to_xml(
                     format('SELECT count(*) AS n FROM public.%I', c.relname),
                     false, true, '')))[1]::text::bigint, true)
              ELSE jsonb_build_array(greatest(c.reltuples, 0)::bigint, false)
         END), '{{}}'))::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p');
\\if :dm_imd
SELECT jsonb_build_object('xmlids', coalesce(jsonb_object_agg(
         d.module || '.' || d.name,
         jsonb_build_array(d.model, md5((to_jsonb(d) {AUDIT} - 'date_update')::text))),
         '{{}}'))::text
  FROM ir_model_data d
 WHERE d.module = ANY (string_to_array(:'modules', ','));
\\endif
\\if :dm_view
SELECT jsonb_build_object('views', coalesce(jsonb_object_agg(v.id, jsonb_build_object(
         'name', v.name, 'model', v.model, 'type', v.type,
         'fp', md5((to_jsonb(v) {AUDIT})::text))), '{{}}'))::text
  FROM ir_ui_view v;
\\endif
\\if :dm_access
SELECT jsonb_build_object('access_rights', coalesce(jsonb_object_agg(a.id,
         jsonb_build_object('name', a.name, 'model', m.model,
           'fp', md5((to_jsonb(a) {AUDIT})::text))), '{{}}'))::text
  FROM ir_model_access a LEFT JOIN ir_model m ON m.id = a.model_id;
\\endif
\\if :dm_rule
SELECT jsonb_build_object('record_rules', coalesce(jsonb_object_agg(r.id,
         jsonb_build_object('name', r.name, 'model', m.model,
           'fp', md5((to_jsonb(r) {AUDIT})::text))), '{{}}'))::text
  FROM ir_rule r LEFT JOIN ir_model m ON m.id = r.model_id;
\\endif
\\if :dm_cron
SELECT jsonb_build_object('scheduled_actions', coalesce(jsonb_object_agg(c.id,
         jsonb_build_object(
           'name', coalesce(to_jsonb(c)->>'cron_name', to_jsonb(s)->'name'->>'en_US',
                            to_jsonb(s)->>'name'),
           'model', to_jsonb(s)->>'model_name',
           'interval_number', to_jsonb(c)->'interval_number',
           'interval_type', to_jsonb(c)->>'interval_type',
           'active', to_jsonb(c)->'active',
           'sends_mail', coalesce(to_jsonb(s)->>'model_name', '') LIKE 'mail.%'
             OR coalesce(to_jsonb(s)->>'code', '')
                ~ 'send_mail|message_post|\\m_send\\M|mail\\.mail',
           'fp', md5((to_jsonb(c) {AUDIT})::text
                     || coalesce(to_jsonb(s)->>'code', '')))),
         '{{}}'))::text
  FROM ir_cron c
  LEFT JOIN ir_act_server s ON s.id = (to_jsonb(c)->>'ir_actions_server_id')::int;
\\endif
\\if :dm_template
SELECT jsonb_build_object('mail_templates', coalesce(jsonb_object_agg(t.id,
         jsonb_build_object(
           'name', coalesce(to_jsonb(t)->'name'->>'en_US', to_jsonb(t)->>'name'),
           'model', to_jsonb(t)->>'model',
           'fp', md5((to_jsonb(t) {AUDIT})::text))), '{{}}'))::text
  FROM mail_template t;
\\endif
\\if :dm_server
SELECT jsonb_build_object('mail_servers', coalesce(jsonb_object_agg(m.id,
         jsonb_build_object('name', to_jsonb(m)->>'name',
           'host', to_jsonb(m)->>'smtp_host',
           'fp', md5((to_jsonb(m) {AUDIT} - 'smtp_pass')::text))), '{{}}'))::text
  FROM ir_mail_server m;
\\endif
\\if :dm_param
SELECT jsonb_build_object('parameters', coalesce(jsonb_object_agg(p.key,
         CASE WHEN p.key ~* 'password|passwd|secret|token|key'
              THEN jsonb_build_object('secret', true, 'fp', md5(p.value))
              ELSE jsonb_build_object('value', p.value, 'fp', md5(p.value))
         END), '{{}}'))::text
  FROM ir_config_parameter p;
\\endif
"""


def snapshot(ctx, transport, spec, db, modules=(), exact_count_limit=None):
    """What the comparison reads from database ``db``, as a dict."""
    limit = EXACT_COUNT_LIMIT if exact_count_limit is None else exact_count_limit
    db, lines = run_script(
        ctx,
        transport,
        spec,
        SNAPSHOT_SQL,
        database=db,
        variables=[("modules", ",".join(modules)), ("limit", str(int(limit)))],
        timeout=SNAPSHOT_TIMEOUT,
        keep_output=False,
    )
    data = {}
    for line in lines:
        try:
            data.update(json.loads(line))
        except ValueError:
            raise _fail(
                ctx, _("Unexpected answer from PostgreSQL for %(db)s."), db=db
            ) from None
    if "columns" not in data:
        raise _fail(ctx, _("Unexpected answer from PostgreSQL for %(db)s."), db=db)
    return data


def _records(before, after, describe):
    """{"added", "removed", "changed"}: lists of described records."""
    out = {"added": [], "removed": [], "changed": []}
    for key in sorted(set(before) | set(after), key=_sort_key):
        old, new = before.get(key), after.get(key)
        if old is None:
            out["added"].append(describe(key, new))
        elif new is None:
            out["removed"].append(describe(key, old))
        elif old.get("fp") != new.get("fp"):
            out["changed"].append(describe(key, new))
    return out


def _sort_key(key):
    return (0, int(key), "") if str(key).isdigit() else (1, 0, str(key))


def _plain(key, record):
    item = {"id": int(key) if str(key).isdigit() else key}
    item.update({k: v for k, v in record.items() if k not in ("fp", "sends_mail")})
    return item


def _parameter(key, record):
    if record.get("secret"):
        return {"key": key, "secret": True}
    return {"key": key, "value": record.get("value")}


def compare(before, after):
    """The differences between two snapshots (see :func:`snapshot`)."""
    columns = {}
    for side, snap in (("before", before), ("after", after)):
        for table, column, kind, nullable in snap.get("columns", []):
            columns.setdefault(table, {}).setdefault(column, {})[side] = (
                kind,
                nullable,
            )
    tables_before = {t for t, *_rest in before.get("columns", [])}
    tables_after = {t for t, *_rest in after.get("columns", [])}
    changed_columns = {}
    for table in sorted(tables_before & tables_after):
        added, dropped, altered = [], [], []
        for column, sides in sorted(columns[table].items()):
            old, new = sides.get("before"), sides.get("after")
            if old is None:
                added.append({"column": column, "type": new[0], "null": new[1]})
            elif new is None:
                dropped.append(column)
            elif old != new:
                altered.append(
                    {
                        "column": column,
                        "type_before": old[0],
                        "type_after": new[0],
                        "null_before": old[1],
                        "null_after": new[1],
                    }
                )
        if added or dropped or altered:
            changed_columns[table] = {
                "added": added,
                "dropped": dropped,
                "altered": altered,
            }
    rows = {}
    counts_before, counts_after = before.get("tables", {}), after.get("tables", {})
    for table in sorted(set(counts_before) | set(counts_after)):
        old = counts_before.get(table)
        new = counts_after.get(table)
        if (old and old[0]) == (new and new[0]):
            continue
        rows[table] = {
            "before": old[0] if old else None,
            "after": new[0] if new else None,
            "exact": bool((old is None or old[1]) and (new is None or new[1])),
        }
    by_model = {}
    xb, xa = before.get("xmlids", {}), after.get("xmlids", {})
    for xmlid in set(xb) | set(xa):
        old, new = xb.get(xmlid), xa.get(xmlid)
        model = (new or old)[0]
        entry = by_model.setdefault(model, {"created": 0, "removed": 0, "changed": 0})
        if old is None:
            entry["created"] += 1
        elif new is None:
            entry["removed"] += 1
        elif old[1] != new[1]:
            entry["changed"] += 1
    records = {
        model: counts
        for model, counts in sorted(by_model.items())
        if any(counts.values())
    }
    crons_before = before.get("scheduled_actions", {})
    crons_after = after.get("scheduled_actions", {})
    crons = _records(crons_before, crons_after, _plain)
    new_crons = [
        record
        for key, record in crons_after.items()
        if record.get("active")
        and (key not in crons_before or not crons_before[key].get("active"))
    ]
    templates = _records(
        before.get("mail_templates", {}), after.get("mail_templates", {}), _plain
    )
    servers = _records(
        before.get("mail_servers", {}), after.get("mail_servers", {}), _plain
    )
    return {
        "tables_added": sorted(tables_after - tables_before),
        "tables_dropped": sorted(tables_before - tables_after),
        "columns": changed_columns,
        "rows": rows,
        "records_by_model": records,
        "views": _records(before.get("views", {}), after.get("views", {}), _plain),
        "access_rights": _records(
            before.get("access_rights", {}), after.get("access_rights", {}), _plain
        ),
        "record_rules": _records(
            before.get("record_rules", {}), after.get("record_rules", {}), _plain
        ),
        "scheduled_actions": crons,
        "mail_templates": templates,
        "mail_servers": servers,
        "parameters": _records(
            before.get("parameters", {}), after.get("parameters", {}), _parameter
        ),
        "adds_scheduled_actions": bool(new_crons),
        "adds_outgoing_mail": bool(
            templates["added"]
            or servers["added"]
            or any(record.get("sends_mail") for record in new_crons)
        ),
        "mail_templates_compared": "mail_templates" in after,
    }


def module_changes(ctx, transport, spec, before_db, modules=(), exact_count_limit=None):
    """Compare ``before_db`` (the rollback point copy) with ``spec.db_name``.

    ``modules``: the plan's modules, whose records (``ir_model_data``) are
    counted by model. Returns the dict of :func:`compare` with "before" and
    "database" (the two names compared).
    """
    modules = _modules(ctx, modules)
    before_db = checked_database(ctx, before_db)
    db = checked_database(ctx, spec.db_name)
    with ctx.step(_("Read the database before the deployment")):
        before = snapshot(ctx, transport, spec, before_db, modules, exact_count_limit)
    with ctx.step(_("Read the database after the deployment")):
        after = snapshot(ctx, transport, spec, db, modules, exact_count_limit)
    result = compare(before, after)
    result.update(before=before_db, database=db, modules=modules)
    return result


def summary(result, text=lambda message, **params: message % params):
    """One line about a result of :func:`module_changes`; ``text`` translates."""
    columns = sum(
        len(t["added"]) + len(t["dropped"]) + len(t["altered"])
        for t in result.get("columns", {}).values()
    )
    records = sum(c["created"] for c in result.get("records_by_model", {}).values())
    line = text(
        _(
            "%(tables)s table(s) added, %(dropped)s dropped, %(columns)s column(s) "
            "changed, %(records)s record(s) created, %(views)s view(s), "
            "%(access)s access right(s), %(rules)s record rule(s), %(crons)s "
            "scheduled action(s), %(templates)s mail template(s), %(params)s "
            "system parameter(s) differ."
        ),
        tables=len(result.get("tables_added", [])),
        dropped=len(result.get("tables_dropped", [])),
        columns=columns,
        records=records,
        views=_count(result, "views"),
        access=_count(result, "access_rights"),
        rules=_count(result, "record_rules"),
        crons=_count(result, "scheduled_actions"),
        templates=_count(result, "mail_templates"),
        params=_count(result, "parameters"),
    )
    if result.get("adds_scheduled_actions"):
        line += " " + text(_("Adds scheduled actions."))
    if result.get("adds_outgoing_mail"):
        line += " " + text(_("Adds outgoing mail."))
    return line


def _count(result, name):
    part = result.get(name) or {}
    return sum(len(part.get(k, [])) for k in ("added", "removed", "changed"))

"""A banner shown to production's users before a deployment (issue 11, R2).

Written into production's own database, as an extension of the web client's
page (``web.webclient_bootstrap``) with a fixed key, so that whatever this
module wrote is found again and removed: there is never more than one. The
running servers see it at once because the template and default cache
signaling sequences are moved on, as Odoo itself does when a view changes.

Everything goes through psql on the environment's host: the SQL is a
constant of ours sent on stdin, the banner's markup a psql variable (psql
quotes it); the text in it is escaped here.
"""

from xml.sax.saxutils import escape

from .deploy_base import _fail
from .i18n import _
from .pg import run_script

KEY = "deployment_manager.announcement_banner"
TIMEOUT = 120

# The body of the page: the banner comes first, above the web client.
ARCH = (
    '<data><xpath expr="//t[@t-call=\'web.layout\']" position="inside">'
    '<div class="alert alert-warning text-center mb-0 rounded-0" role="status" '
    'style="position: relative; z-index: 1100;">{text}</div>'
    "</xpath></data>"
)

# Whatever the servers cache of views and templates is read again.
SIGNAL_SQL = """\
SELECT nextval(c.oid::regclass)
  FROM pg_class c
 WHERE c.relkind = 'S'
   AND c.relname IN ('base_cache_signaling_default',
                     'base_cache_signaling_templates');
"""

SHOW_SQL = (
    """\
BEGIN;
DELETE FROM ir_ui_view WHERE key = :'key';
INSERT INTO ir_ui_view (name, key, type, mode, active, priority, inherit_id,
                        arch_db, create_uid, write_uid, create_date, write_date)
SELECT :'key', :'key', 'qweb', 'extension', true, 99, d.res_id,
       jsonb_build_object('en_US', :'arch'), 1, 1,
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM ir_model_data d
 WHERE d.module = 'web' AND d.name = 'webclient_bootstrap'
   AND d.model = 'ir.ui.view';
SELECT count(*) FROM ir_ui_view WHERE key = :'key';
"""
    + SIGNAL_SQL
    + "COMMIT;\n"
)

REMOVE_SQL = (
    """\
BEGIN;
DELETE FROM ir_ui_view WHERE key = :'key';
"""
    + SIGNAL_SQL
    + "COMMIT;\n"
)


def show_banner(ctx, transport, spec, text):
    """Show ``text`` above production's web client (replacing an earlier one)."""
    text = " ".join(str(text or "").split())
    if not text:
        raise _fail(ctx, _("The banner has no text."))
    with ctx.step(_("Write the banner into production")):
        db, lines = run_script(
            ctx,
            transport,
            spec,
            SHOW_SQL,
            variables=[("key", KEY), ("arch", ARCH.format(text=escape(text)))],
            message=_("The banner cannot be written into %(db)s: %(reason)s"),
            timeout=TIMEOUT,
        )
        if not lines or lines[0].strip() != "1":
            raise _fail(
                ctx,
                _("%(db)s has no web client page to show a banner on."),
                db=db,
            )
    return {"database": db, "shown": True, "text": text}


def remove_banner(ctx, transport, spec):
    """Remove the banner this module wrote, if any."""
    with ctx.step(_("Remove the banner from production")):
        db, _lines_read = run_script(
            ctx,
            transport,
            spec,
            REMOVE_SQL,
            variables=[("key", KEY)],
            message=_("The banner cannot be removed from %(db)s: %(reason)s"),
            timeout=TIMEOUT,
        )
    return {"database": db, "shown": False}

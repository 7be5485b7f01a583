"""Who uses a production Odoo (issue 11, R2): its active internal users.

Announcements go to every person who works in production. They are read
from production's own database (this Odoo knows nothing of them), once,
read-only, through psql on the environment's host like every other database
read: the argv is a list, the SQL a constant of ours sent on stdin, the
database name checked.

A user is a recipient when the account is active, internal (``share`` is
false: portal and public users are not told about a deployment of the
back-office) and has an email address. Name, email, language and time zone
come from the user's partner, where Odoo keeps them.
"""

import json

from .deploy_base import _fail
from .i18n import _
from .pg import run_script

READ_TIMEOUT = 300

# Read-only, one JSON document a line. The columns are read through
# to_jsonb so that a production older or newer than ours (a column renamed
# or missing) gives an empty value rather than an error.
USERS_SQL = """\
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;
SELECT jsonb_build_object(
         'login', u.login,
         'name', coalesce(to_jsonb(p)->>'name', u.login),
         'email', btrim(to_jsonb(p)->>'email'),
         'lang', coalesce(to_jsonb(p)->>'lang', ''),
         'tz', coalesce(to_jsonb(p)->>'tz', ''))::text
  FROM res_users u
  JOIN res_partner p ON p.id = u.partner_id
 WHERE u.active
   AND NOT coalesce((to_jsonb(u)->>'share')::boolean, false)
   AND coalesce(btrim(to_jsonb(p)->>'email'), '') <> ''
 ORDER BY u.id;
"""


def production_users(ctx, transport, spec):
    """The active internal users with an email of ``spec``'s database.

    Returns ``{"users": [{"login", "name", "email", "lang", "tz"}, ...],
    "database": name}``; each email once (two accounts sharing an address
    get one mail).
    """
    with ctx.step(_("Read the users of the production database")):
        db, lines = run_script(
            ctx,
            transport,
            spec,
            USERS_SQL,
            timeout=READ_TIMEOUT,
            # The users' names and addresses are kept on the announcement,
            # not copied into the operation's journal.
            keep_output=False,
        )
        users, seen = [], set()
        for line in lines:
            try:
                user = json.loads(line)
            except ValueError:
                raise _fail(
                    ctx, _("Unexpected answer from PostgreSQL for %(db)s."), db=db
                ) from None
            if not isinstance(user, dict) or not user.get("email"):
                continue
            key = user["email"].strip().lower()
            if key in seen:
                continue
            seen.add(key)
            users.append(
                {
                    name: str(user.get(name) or "")
                    for name in ("login", "name", "email", "lang", "tz")
                }
            )
    return {"users": users, "database": db}

from ..remote import fetch_host_key as _fetch_host_key
from .i18n import _


def test_connection(ctx, transport):
    """Connect and identify the remote side: the user commands run as, the system."""
    with ctx.step(_("Connect and identify")):
        ctx.progress(10, _("Connecting"))
        user = ctx.run(transport, ["id", "-un"], timeout=30)
        system = ctx.run(transport, ["uname", "-srm"], timeout=30)
        user.check()
        return {
            "user": user.stdout.excerpt().strip(),
            "system": system.stdout.excerpt().strip(),
        }


def fetch_host_key(ctx, hostname, port, timeout):
    """The key the server presents, not trusted yet: a person confirms it."""
    with ctx.step(_("Read the host key the server presents")):
        ctx.progress(10, _("Connecting"))
        return _fetch_host_key(hostname, port, timeout=timeout)

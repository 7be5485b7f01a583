from .i18n import _


def service_status(ctx, transport, spec, notes=None, start_percent=0):
    """Ask the Odoo and PostgreSQL services for their state.

    The environment's status commands are used.

    Service commands can block (a unit that is starting, a hung init
    script), and in later operations they restart the very database the
    manager writes to; so they run detached: the operation re-attaches to
    them if the manager restarts meanwhile.
    """
    notes = notes if notes is not None else []
    states = {}
    commands = (
        ("odoo", "Odoo", spec.odoo_status_argv),
        ("postgresql", "PostgreSQL", spec.pg_status_argv),
    )
    for index, (key, label, argv) in enumerate(commands):
        if not argv:
            notes.append(
                ctx.text(
                    _("No status command for the %(service)s service."), service=label
                )
            )
            continue
        with ctx.step(ctx.text(_("%(service)s service status"), service=label)):
            ctx.progress(
                start_percent + index * (100 - start_percent) // 2,
                ctx.text(_("Asking the %(service)s service"), service=label),
            )
            status = ctx.run_detached(transport, argv, key=f"status-{key}", timeout=300)
            states[key] = describe_status(status)
    return states


def describe_status(status):
    """'active', 'inactive'… as the command said it, else from its exit code."""
    if status.state != "done":
        return "unknown"
    lines = (status.stdout_excerpt or "").strip().splitlines()
    word = lines[0].strip() if lines and len(lines[0]) <= 40 else ""
    if status.exit_code == 0:
        return word or "active"
    return (
        word if word and word != "active" else f"stopped (exit code {status.exit_code})"
    )

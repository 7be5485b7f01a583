# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Who may request operations, where: plain facts, no ORM.

Each kind says the lowest level that may request it (base.OperationKind.level).

Three levels, each including the one before:

* **User** reads everything but secrets and runs what only reads or copies
  (discover, service status, backups, log checks);
* **Deployer** also runs what executes code a person supplies — a module
  deployed from a zip or git, a module's tests, a restore of a bundle whose
  sources are put back — on development and pre-production environments;
* **Manager** runs every operation, on production and on the recovery site
  (which holds an un-neutralized copy of production), configures hosts and
  environments and reads their secrets.

Whatever the level, a non-manager's operation is refused on a *local* host
(its commands run as the manager's own OS user, next to every stored key)
and on a host that also carries a production or recovery-site environment
(code run there reaches production's data).
"""

USER = "user"
DEPLOYER = "deployer"
MANAGER = "manager"
LEVELS = (USER, DEPLOYER, MANAGER)

# Environment types whose data is production's own.
PRODUCTION_DATA_TYPES = ("production", "disaster_recovery")


def has_level(level, required):
    return LEVELS.index(level) >= LEVELS.index(required)


def host_refusal(level, host_is_local, host_carries_production):
    """Why a non-manager may not run anything on that host, or None."""
    if level == MANAGER:
        return None
    if host_is_local:
        return "local"
    if host_carries_production:
        return "shares_production"
    return None

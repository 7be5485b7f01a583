# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What an operation kind is: one class says everything about it.

The ``kind`` selection of ``deployment.operation``, who may request a kind
and where, which kinds work on a host rather than an environment, what a
kind's success or failure writes on its target and whether it is taken up
again after its worker died are all read from here. Adding a kind is adding
one module to this package and importing it in ``__init__``.
"""

from . import access

HOST = "host"
ENVIRONMENT = "environment"

REGISTRY = {}


def register(cls):
    """Class decorator: make the kind known (in import order: the selection's)."""
    if not cls.code or not cls.label:
        raise TypeError(f"{cls.__name__}: an operation kind needs a code and a label")
    if cls.code in REGISTRY:
        raise ValueError(f"operation kind {cls.code!r} registered twice")
    REGISTRY[cls.code] = cls()
    return cls


def get(code):
    """The kind registered under ``code``; a KeyError names an unknown kind."""
    return REGISTRY[code]


def selection():
    """``[(code, label)]`` for the ``kind`` field, in registration order."""
    return [(kind.code, kind.label) for kind in REGISTRY.values()]


class OperationKind:
    """One kind of operation. Subclasses set the facts and implement ``run``.

    The methods receive the ``deployment.operation`` record (running as the
    system, in the requester's language) and, for ``run``, the journal
    through which every step and command is recorded.
    """

    #: technical name, the value of ``deployment.operation.kind``
    code = None
    #: English label (translated through the selection field)
    label = None
    #: the method of the target's form that requests it (its own checks
    #: first), or None: such a kind needs what only its own form or decision
    #: gives, and is not offered as a server action
    button = None
    #: what the operation works on: the environment or the host itself
    target = ENVIRONMENT
    #: the lowest level that may request it (see access.py);
    #: on production and the recovery site only managers may, whatever this says
    level = access.MANAGER
    #: whether it changes its target (a freeze window refuses those)
    changes_target = True
    #: nothing else runs on its host meanwhile (it restarts what the host's
    #: environments share: PostgreSQL), and it waits for what runs there
    exclusive_on_host = False
    #: its failure is evidence of the environment's health (health set to error)
    health_evidence = False
    #: the dataclass of its parameters (operation_kinds/requests.py), or None
    request_type = None
    #: the dataclass of its result (ops/results.py), or None for a result
    #: read only by the kind's own ``apply_result``
    result_type = None
    #: taken up again after its worker died even when no detached command of
    #: it was running: its run finds what the previous worker left (a saved
    #: state, a copy named by the operation's stamp) and goes on from there
    resumes_from_saved_state = False

    def required_level(self, environment_type=None):
        """The lowest level allowed to request it on that type of environment."""
        if environment_type in access.PRODUCTION_DATA_TYPES:
            return access.MANAGER
        return self.level

    def request(self, operation):
        """The operation's parameters, typed (None for a kind without any)."""
        if self.request_type is None:
            return None
        return self.request_type.from_json(operation.params or {})

    def typed_result(self, result):
        """What ``run`` returned, as its ``result_type`` (checked: a key the
        ops layer renamed fails here, naming it)."""
        if self.result_type is None or result is None:
            return result
        return self.result_type.from_json(result)

    def result(self, operation):
        """The stored result of a done operation, typed like ``typed_result``
        (keys an earlier version kept and this one no longer has are left out)."""
        if self.result_type is None:
            return operation.result_data or {}
        return self.result_type.from_json(operation.result_data or {}, stored=True)

    def normalize_params(self, params):
        """Check ``params`` (a request object or its JSON) at request time;
        return what is stored. A kind without parameters accepts none."""
        if self.request_type is None:
            if params:
                raise ValueError(f"{self.code} takes no parameters")
            return False
        if not isinstance(params, self.request_type):
            params = self.request_type.from_json(params or {})
        return params.to_json()

    def resumes_after_worker_death(self, operation):
        """Whether a worker taking the orphaned operation up may go on with it.

        A detached command still running on the host is re-attached to, never
        started twice; an operation that saved where it stands goes on from
        there. Anything else is marked interrupted.
        """
        if self.resumes_from_saved_state and operation.deployment_state:
            return True
        return bool(
            operation.command_ids.filtered(
                lambda c: c.detached and c.detached_state == "running"
            )
        )

    def run(self, operation, journal):
        """Do the work; return the result (JSON-able, or a ``result_type``),
        raise to fail."""
        raise NotImplementedError

    def apply_result(self, operation, result):
        """Write what the operation found on its target; return a one-line summary."""
        return ""

    def kept_result(self, operation, result):
        """What the operation's ``result_data`` keeps of its applied result:
        all of it, unless the kind moved a part elsewhere (a log into an
        attachment, people's addresses onto an announcement)."""
        return result

    def tells_success(self, operation, result):
        """Whether its success is posted on the target's chatter (and so
        mailed to its followers). Routine work that found nothing says so
        only in its journal."""
        return True

    def apply_failure(self, operation, reason, message, cancelled=False):
        """What a failure changes on the target: only what it is evidence of."""
        if self.health_evidence and not cancelled:
            # Reading the environment or its services failed: that is a fact
            # about its health. Other failures (a drift report, a test run, a
            # cancel) say nothing of it, and their message says what state
            # they left.
            operation.environment_id.sudo().health_state = "error"

class OperationFailed(Exception):
    """The operation cannot go on; the message says why, for people."""


class Cancelled(OperationFailed):
    """A person cancelled the operation.

    Raised before a command (``result`` None: it did not run) or just after
    one that ran (``result`` its CommandResult): a clean-up must not run a
    command twice.
    """

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result


class OperationContext:
    """What an operation needs from whoever runs it.

    The Odoo model implements it with a journal of records; tests may use
    :class:`SimpleContext`. Every method is called from the thread running
    the operation.
    """

    # Whether a cancel asked now is honoured. An operation past its point
    # of no return (the swap of a restore or replication) sets it False:
    # from there it goes on to its end (see ops.restore.refuse_cancel).
    cancellable = True

    def step(self, label):
        """A context manager around one step of the operation (timed, journaled)."""
        raise NotImplementedError

    def run(self, transport, argv, **kwargs):
        """Run a command, journal it, and return its CommandResult."""
        raise NotImplementedError

    def run_detached(self, transport, argv, key, *, timeout=None, env=None, secrets=()):
        """Run a long command so that it survives the runner dying.

        If a previous attempt of this operation already started the command
        under ``key``, re-attach to it instead of starting it again.
        ``env`` reaches the command without appearing in any argv (passwords).
        Returns a DetachedStatus once the command has ended (or ``timeout``
        seconds passed: then it is cancelled and its state is not "running").
        """
        raise NotImplementedError

    def launch_detached(self, transport, argv, key, *, env=None, secrets=()):
        """Start a command as :meth:`run_detached` does, without waiting for
        it: a later ``run_detached`` with the same ``key`` waits for it (and
        never starts it again). Nothing is done when ``key`` was launched
        already."""
        raise NotImplementedError

    def progress(self, percent, message=None):
        raise NotImplementedError

    def text(self, message, **params):
        """The message (marked with ``i18n._``) for a person, translated then filled."""
        return message % params if params else message


class SimpleContext(OperationContext):
    """A context that keeps everything in memory: for scripts and core tests.

    Without ``work_dir``, a private directory of its own is made (mode 0700,
    by tempfile) the first time one is needed, and removed with the context:
    a fixed name under /tmp is one that another user could create first.
    """

    def __init__(self, work_dir=None):
        import contextlib

        self._contextlib = contextlib
        self.commands = []
        self.steps = []
        self._work_dir = work_dir
        self.percent = 0
        self._launched = {}  # key -> run directory, see launch_detached

    @property
    def work_dir(self):
        if self._work_dir is None:
            import shutil
            import tempfile
            import weakref

            self._work_dir = tempfile.mkdtemp(prefix="deployment_manager-")
            weakref.finalize(self, shutil.rmtree, self._work_dir, ignore_errors=True)
        return self._work_dir

    @work_dir.setter
    def work_dir(self, value):
        self._work_dir = value

    def step(self, label):
        self.steps.append(label)
        return self._contextlib.nullcontext()

    def run(self, transport, argv, keep_output=True, **kwargs):
        # Nothing is journaled here, so there is no output to keep out of it.
        result = transport.run(argv, **kwargs)
        self.commands.append(result)
        return result

    def _start(self, transport, argv, key, env, secrets):
        import secrets as tokens

        from ..remote import start_detached

        run_dir = f"{self.work_dir}/{key}-{tokens.token_hex(4)}"
        start_detached(transport, argv, run_dir, env=env, secrets=secrets)
        return run_dir

    def launch_detached(self, transport, argv, key, *, env=None, secrets=()):
        if key not in self._launched:
            self._launched[key] = self._start(transport, argv, key, env, secrets)

    def run_detached(self, transport, argv, key, *, timeout=None, env=None, secrets=()):
        from ..remote import cancel_detached, wait_detached

        run_dir = self._launched.pop(key, None) or self._start(
            transport, argv, key, env, secrets
        )
        status = wait_detached(transport, run_dir, timeout=timeout)
        if status.state == "running":
            status = cancel_detached(transport, run_dir)
        self.commands.append(status)
        return status

    def progress(self, percent, message=None):
        self.percent = percent

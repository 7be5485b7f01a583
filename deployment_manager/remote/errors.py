"""Exceptions raised by the remote-execution core.

Every exception carries a short machine-readable ``reason`` so that callers
(the Odoo models, the journal) can branch on it without parsing messages,
and a ``str()`` that is a complete English sentence an administrator can act on.
"""


class RemoteError(Exception):
    """Base class of every error raised by ``deployment_manager.remote``."""

    reason = "remote_error"

    def __init__(self, message, reason=None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self):
        return str(self)


class ConnectError(RemoteError):
    """The SSH connection could not be established or authenticated."""

    REASONS = (
        "dns",
        "refused",
        "timeout",
        "auth",
        "host_key_unknown",
        "host_key_changed",
        "protocol",
        "key",
    )

    def __init__(self, message, reason="protocol"):
        if reason not in self.REASONS:
            raise ValueError(f"unknown connect error reason {reason!r}")
        super().__init__(message, reason)


class HostKeyUnknown(ConnectError):
    """The server presented a host key although none is pinned for it."""

    def __init__(self, host, key_type, presented_fingerprint):
        self.host = host
        self.key_type = key_type
        self.presented_fingerprint = presented_fingerprint
        super().__init__(
            f"The host key of {host} is not pinned: the server presented a "
            f"{key_type} key with fingerprint {presented_fingerprint}. Verify "
            "this fingerprint out of band and pin the key before connecting.",
            "host_key_unknown",
        )


class HostKeyChanged(ConnectError):
    """The server presented a host key different from the pinned one."""

    def __init__(self, host, expected_fingerprint, presented_fingerprint):
        self.host = host
        self.expected_fingerprint = expected_fingerprint
        self.presented_fingerprint = presented_fingerprint
        super().__init__(
            f"The host key of {host} has changed: the pinned key has "
            f"fingerprint {expected_fingerprint} but the server presented "
            f"{presented_fingerprint}. The connection was refused; if the "
            "change is legitimate, pin the new key.",
            "host_key_changed",
        )


class ConnectionLost(RemoteError):
    """The SSH link dropped while a command or transfer was in progress.

    ``pgid`` is the remote process group of the interrupted command when it
    was known: the command may still be running there.
    """

    def __init__(self, message, pgid=None):
        self.pgid = pgid
        super().__init__(message, "connection_lost")


class InvalidInput(RemoteError, ValueError):
    """A value about to be used in a remote command failed validation."""

    def __init__(self, field, value, why=None):
        self.field = field
        self.value = value
        detail = f": {why}" if why else ""
        super().__init__(f"Invalid {field} {value!r}{detail}.", "invalid_input")


class CommandFailed(RemoteError):
    """A command did not succeed (non-zero exit, timeout or cancellation)."""

    def __init__(self, result):
        self.result = result
        super().__init__(self._describe(result), "command_failed")

    @staticmethod
    def _describe(result):
        subject = f"Command `{result.display}`"
        if result.host:
            subject += f" on {result.host}"
        if result.timed_out:
            outcome = f"timed out after {result.duration:.1f}s"
            if result.timeout_kind == "idle":
                outcome += " without producing output"
        elif result.cancelled:
            outcome = f"was cancelled after {result.duration:.1f}s"
        else:
            outcome = f"exited with code {result.exit_code}"
        message = f"{subject} {outcome}."
        tail = result.stderr_tail(lines=10)
        if tail:
            message += f" Last lines of stderr:\n{tail}"
        return message

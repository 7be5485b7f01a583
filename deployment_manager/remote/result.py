"""The record of one command run, as kept in the journal."""

from dataclasses import dataclass, field

from .capture import BoundedCapture
from .errors import CommandFailed
from .masking import mask


@dataclass
class CommandResult:
    argv: list
    display: str
    host: str
    exit_code: int | None
    started_at: float
    duration: float
    stdout: BoundedCapture
    stderr: BoundedCapture
    timed_out: bool = False
    timeout_kind: str | None = None
    cancelled: bool = False
    # Kept so that output excerpts can be masked too; never shown.
    secrets: tuple = field(default=(), repr=False, compare=False)

    @property
    def ok(self):
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    @property
    def stdout_text(self):
        """Masked stdout excerpt (head and tail when it was large)."""
        return mask(self.stdout.excerpt(), self.secrets)

    @property
    def stderr_text(self):
        """Masked stderr excerpt (head and tail when it was large)."""
        return mask(self.stderr.excerpt(), self.secrets)

    def stderr_tail(self, lines=10):
        text = self.stderr_text.rstrip("\n")
        if not text:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check(self):
        """Return self if the command succeeded, else raise CommandFailed."""
        if not self.ok:
            raise CommandFailed(self)
        return self

    def close(self):
        self.stdout.close()
        self.stderr.close()


@dataclass
class PipeResult:
    bytes_copied: int
    src: CommandResult
    dst: CommandResult
    # "openssh": two OpenSSH clients joined by the kernel; "manager":
    # through this process.
    via: str = "manager"

    @property
    def ok(self):
        return self.src.ok and self.dst.ok

    def check(self):
        """Return self if both sides succeeded, else raise CommandFailed for
        the side that failed first (the source, when both did)."""
        for result in (self.src, self.dst):
            if not result.ok:
                raise CommandFailed(result)
        return self

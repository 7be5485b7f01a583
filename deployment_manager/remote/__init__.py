"""Remote-execution core of deployment_manager.

Plain Python, no Odoo import: runs argv lists locally or over SSH with
pinned host keys, bounded output capture, timeouts, process-group kills,
detached long commands, private work directories and cross-host streaming.
"""

from .capture import BoundedCapture, OutputTooLarge
from .detached import (
    DetachedHandle,
    DetachedStatus,
    cancel_detached,
    poll_detached,
    start_detached,
    wait_detached,
)
from .errors import (
    CommandFailed,
    ConnectError,
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    InvalidInput,
    RemoteError,
)
from .local import LocalTransport
from .masking import MASK, display_argv, mask
from .pipe import PipeResult, pipe
from .result import CommandResult
from .ssh import HostKeyInfo, SshConfig, SshTransport, fetch_host_key, fingerprint
from .transport import RunningCommand, Transport
from .validation import (
    split_command,
    validate_argv,
    validate_database_name,
    validate_env,
    validate_hostname,
    validate_module_name,
    validate_path,
    validate_port,
    validate_service_name,
    validate_username,
)
from .workdir import UnsafeWorkDir, ensure_work_dir

__all__ = [
    "MASK",
    "BoundedCapture",
    "CommandFailed",
    "CommandResult",
    "ConnectError",
    "ConnectionLost",
    "DetachedHandle",
    "DetachedStatus",
    "HostKeyChanged",
    "HostKeyInfo",
    "HostKeyUnknown",
    "InvalidInput",
    "LocalTransport",
    "OutputTooLarge",
    "PipeResult",
    "RemoteError",
    "RunningCommand",
    "SshConfig",
    "SshTransport",
    "Transport",
    "UnsafeWorkDir",
    "cancel_detached",
    "display_argv",
    "ensure_work_dir",
    "fetch_host_key",
    "fingerprint",
    "mask",
    "pipe",
    "poll_detached",
    "split_command",
    "start_detached",
    "validate_argv",
    "validate_database_name",
    "validate_env",
    "validate_hostname",
    "validate_module_name",
    "validate_path",
    "validate_port",
    "validate_service_name",
    "validate_username",
    "wait_detached",
]

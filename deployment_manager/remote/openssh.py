"""Commands run by the OpenSSH client, for bulk streams between hosts.

paramiko moves every byte through the manager's Python process, which one
core and the GIL bound at about 100 MB/s per stream (bench/README.md). The
OpenSSH client encrypts in C in a process of its own: a stream between two
hosts becomes two ``ssh`` processes joined by OS pipes (see ``pipe.py``).

The client is told everything on its command line and reads no
configuration file (``-F none``): the private key and the pinned host key
are written to a private directory (0700, files 0600) made for one stream
and removed after it; the host key is checked strictly against that pin
alone (``StrictHostKeyChecking=yes``, ``HostKeyAlias``), never learnt.
Neither the key nor its path reaches a log, a result or a message.

The remote side runs the same kind of wrapper as ``SshTransport``: its own
process group (printed first, so the group can be killed), environment
variables as ``NAME=value`` lines on stdin ended by an empty line — which is
also the go-ahead: a command whose stdin closes before it never starts — and
its exit status on stderr behind a random tag, because ``ssh`` itself exits
255 both when the command did and when the link dropped.
"""

import contextlib
import math
import os
import re
import secrets as _secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from .errors import ConnectError, ConnectionLost, HostKeyChanged, InvalidInput
from .masking import mask
from .ssh import SshTransport, _load_private_key, _pinned_key, fingerprint
from .transport import (
    DRAIN_GRACE,
    GROUP_ALIVE_SH,
    READ_CHUNK,
    TERM_GRACE,
    new_result,
)

# Constant text: the command only ever travels as "$@"; $1 is the exit tag.
# "read || exit 97": no empty line, no command (the stream was abandoned).
_WRAPPER = (
    'echo "dm-pgid $$"; '
    "while :; do "
    'IFS= read -r dm_kv || exit 97; [ -n "$dm_kv" ] || break; export "$dm_kv"; '
    "done; "
    'unset dm_kv; dm_tag=$1; shift; "$@"; dm_rc=$?; '
    'echo "$dm_tag $dm_rc" >&2; exit "$dm_rc"'
)
_PGID_LINE = re.compile(rb"(?:^|\n)dm-pgid (\d+)\n")
# What ssh says when the link, not the command, ended the session.
_LINK_LOST = re.compile(
    r"closed by remote host|Connection reset|Broken pipe|not responding|"
    r"Connection timed out|packet_write_wait|Connection closed"
)
_PRESENTED = re.compile(r"sent by the remote host is\s+(SHA256:[A-Za-z0-9+/=]+)")
_KEY_TYPE = re.compile(r"[a-z0-9@.-]{1,64}")
_KEY_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,3}")
# The pin only ever names this alias: the file holds nothing else.
_ALIAS = "dm-pinned-host"
_HOST_KEY_ALGORITHMS = {"ssh-rsa": "rsa-sha2-512,rsa-sha2-256"}
# How long the wrapper may take to print its first line once connected.
START_TIMEOUT = 30.0
_HELPER_TIMEOUT = 15.0
# The end of stderr held back until it ends: the exit tag is in it.
_HOLD = 4096


def openssh_binary():
    """The ``ssh`` client's path, or None when it is not installed."""
    return shutil.which("ssh")


def usable(transport):
    """True when ``transport`` can be reached with the OpenSSH client: an
    ``SshTransport`` with a pinned host key and a key without passphrase
    (OpenSSH, non-interactive, could not be given one), ``ssh`` installed."""
    if not isinstance(transport, SshTransport):
        return False
    config = transport.config
    return bool(
        openssh_binary()
        and config.pinned_key_type
        and config.pinned_key_base64
        and not config.passphrase
        and (config.private_key or config.key_path)
    )


def _private_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class OpenSshClient:
    """The OpenSSH client for one ``SshTransport``; a context manager that
    holds the key and the pin in a private directory while it is open."""

    def __init__(self, transport):
        self.transport = transport
        self.config = transport.config
        self.label = transport.label
        self._dir = None
        self._key_file = None
        self._key_text = None
        self._options = None

    def __enter__(self):
        config = self.config
        # Errors as SshTransport gives them (ConnectError "key",
        # InvalidInput), before anything is written.
        _load_private_key(config)
        _pinned_key(config)
        key_type, key_base64 = config.pinned_key_type, config.pinned_key_base64
        if not (_KEY_TYPE.fullmatch(key_type) and _KEY_BASE64.fullmatch(key_base64)):
            # A line break would add lines of its own to the known_hosts file.
            raise InvalidInput("pinned host key", key_base64, "it is not one key")
        if config.private_key:
            key_text = config.private_key
        else:
            with open(config.key_path) as handle:
                key_text = handle.read()
        self._key_text = "\n".join(key_text.strip().splitlines()) + "\n"
        self._dir = tempfile.mkdtemp(prefix="dm-ssh-")
        try:
            key_file = self._key_file = os.path.join(self._dir, "key")
            known_hosts = os.path.join(self._dir, "known_hosts")
            self._put_key()
            _private_file(known_hosts, f"{_ALIAS} {key_type} {key_base64}\n")
        except BaseException:
            self._remove()
            raise
        algorithms = _HOST_KEY_ALGORITHMS.get(key_type, key_type)
        self._options = [
            "-F", "none", "-T", "-x", "-a",
            "-i", key_file,
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "PreferredAuthentications=publickey",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"HostKeyAlias={_ALIAS}",
            "-o", f"HostKeyAlgorithms={algorithms}",
            "-o", "CheckHostIP=no",
            "-o", "UpdateHostKeys=no",
            "-o", "VerifyHostKeyDNS=no",
            "-o", "ControlMaster=no",
            "-o", "ControlPath=none",
            "-o", "ClearAllForwardings=yes",
            "-o", "PermitLocalCommand=no",
            "-o", "LogLevel=ERROR",
            "-o", f"ConnectTimeout={max(1, math.ceil(config.connect_timeout))}",
            "-o", "ConnectionAttempts=1",
            "-o", f"ServerAliveInterval={int(config.keepalive or 0)}",
            "-o", "ServerAliveCountMax=3",
            "-p", str(config.port),
            "-l", config.username,
        ]  # fmt: skip
        return self

    def __exit__(self, *exc_info):
        self._remove()

    def _remove(self):
        self._key_text = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _put_key(self):
        if not os.path.exists(self._key_file):
            _private_file(self._key_file, self._key_text)

    def forget_key(self):
        """Remove the key file once the clients have authenticated: a
        worker killed mid-stream leaves no key behind, only the pin. It is
        written again for the short commands that stop a stream."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._key_file)

    def argv(self, remote_argv):
        """The local command running ``remote_argv`` (sudo-wrapped here)."""
        command = shlex.join(self.transport.wrap_argv(remote_argv))
        return ["ssh", *self._options, "--", self.config.hostname, command]

    @property
    def start_timeout(self):
        return float(self.config.connect_timeout) + START_TIMEOUT

    def signal_group(self, pgid, name):
        """SIG<name> to a remote process group; False once it is gone."""
        script = GROUP_ALIVE_SH + 'dm_alive "$2" || exit 3; kill -"$1" -"$2"'
        argv = self.argv(["sh", "-c", script, "sh", name, str(pgid)])
        self._put_key()
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=_HELPER_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return True
        finally:
            self.forget_key()
        return done.returncode == 0

    def connect_error(self, stderr):
        """The ConnectError an ``ssh`` that exited 255 before running
        anything stands for, read from what it printed."""
        where = self.label
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            presented = _PRESENTED.search(stderr)
            return HostKeyChanged(
                where,
                fingerprint(self.config.pinned_key_base64),
                presented.group(1) if presented else "(not shown)",
            )
        if "no matching host key type" in stderr:
            return ConnectError(
                f"{where} offers no host key of the pinned type "
                f"{self.config.pinned_key_type}: the connection was refused; "
                "if the change is legitimate, pin the new key.",
                "host_key_changed",
            )
        if "Host key verification failed" in stderr:
            return ConnectError(
                f"The host key of {where} could not be verified against the "
                "pinned key: the connection was refused.",
                "host_key_changed",
            )
        if "Could not resolve hostname" in stderr:
            return ConnectError(
                f"The host name of {where} could not be resolved.", "dns"
            )
        if "Connection refused" in stderr:
            return ConnectError(
                f"{where} refused the connection: no SSH server listens on that port.",
                "refused",
            )
        if "timed out" in stderr:
            return ConnectError(
                f"{where} did not answer within "
                f"{self.config.connect_timeout:g} seconds.",
                "timeout",
            )
        if "Permission denied" in stderr:
            return ConnectError(
                f"{where} rejected the authentication: the configured private "
                "key is not authorised for this user.",
                "auth",
            )
        last = stderr.strip().splitlines()[-1:] or ["no message"]
        return ConnectError(
            f"The OpenSSH client could not connect to {where}: {last[0]}.",
            "protocol",
        )


class OpenSshCommand:
    """One command started by an ``OpenSshClient``.

    ``stdout_fd``: where its output goes (a pipe the caller relays; only
    its size is counted), else it is captured. ``stdin_fd``: where its
    input comes from; the caller then writes the go-ahead there (see
    :meth:`go_ahead`), else the command has a stdin pipe of its own that
    carries the go-ahead and then ends.
    """

    def __init__(
        self,
        client,
        argv,
        env,
        secrets,
        *,
        stdout_fd=None,
        stdin_fd=None,
        capture_limits=None,
    ):
        self.client = client
        self.env = env
        self.pgid = None
        self.lost = False
        self.stopped = False
        self.finished = False
        self.exit_tag = None
        self.marker_fd = None
        self._said = ""
        self._tag = f"dm-exit-{_secrets.token_hex(8)}"
        self.result = new_result(
            argv, secrets, client.label, capture_limits, stdout_fd is not None
        )
        self._t0 = time.monotonic()
        self._threads = []
        remote = ["setsid", "-w", "sh", "-c", _WRAPPER, "sh", self._tag, *argv]
        self._popen = subprocess.Popen(
            client.argv(remote),
            stdin=subprocess.PIPE if stdin_fd is None else stdin_fd,
            stdout=subprocess.PIPE if stdout_fd is None else stdout_fd,
            stderr=subprocess.PIPE,
            # Its own session: a signal aimed at the worker's group leaves
            # it alone; we stop it ourselves, remote side first.
            start_new_session=True,
            close_fds=True,
        )
        if stdout_fd is None:
            self.marker_fd = self._popen.stdout.fileno()
        self._start_thread(self._read_stderr, "stderr")

    # -- the wrapper's lines ----------------------------------------------

    def _start_thread(self, target, name):
        thread = threading.Thread(target=target, name=f"dm-ossh-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _read_stderr(self):
        capture = self.result.stderr
        held = b""
        with contextlib.suppress(OSError, ValueError):
            while data := os.read(self._popen.stderr.fileno(), READ_CHUNK):
                held += data
                if len(held) > _HOLD:
                    capture.feed(held[:-_HOLD])
                    held = held[-_HOLD:]
        tag = re.escape(self._tag.encode())
        matches = list(re.finditer(tag + rb" (\d+)\n", held))
        if matches:
            last = matches[-1]
            self.exit_tag = int(last.group(1))
            held = held[: last.start()] + held[last.end() :]
        capture.feed(held)
        # What ssh itself said last: why a connection failed or dropped.
        self._said = held.decode("utf-8", "replace")

    def take_marker(self, buffer):
        """Look for the process group line in what ``marker_fd`` gave so
        far; returns what follows it (the command's output), or None."""
        match = _PGID_LINE.search(buffer)
        if not match:
            return None
        self.pgid = int(match.group(1))
        return buffer[match.end() :]

    def capture_stdout(self, first):
        """Read the rest of a captured stdout in a thread of its own."""
        capture = self.result.stdout
        capture.feed(first)
        fd = self.marker_fd

        def loop():
            with contextlib.suppress(OSError, ValueError):
                while data := os.read(fd, READ_CHUNK):
                    capture.feed(data)

        self._start_thread(loop, "stdout")

    def go_ahead(self, fd=None, feed=None):
        """Send the environment, then the empty line that starts the
        command: on ``fd`` (left open: the stream follows), or on the
        command's own stdin, which then ends, or carries what ``feed``
        (pipe's ``_Feed``) writes into it, from a thread of its own."""
        block = "".join(f"{name}={value}\n" for name, value in self.env.items())
        data = (block + "\n").encode()
        if fd is not None:
            _write_all(fd, data)
            return
        with contextlib.suppress(OSError):
            self._popen.stdin.write(data)
            if feed is not None:
                self._popen.stdin.flush()
        if feed is None:
            self.abandon()
            return
        feed.start(self._write_stdin, self.abandon)

    def _write_stdin(self, data):
        self._popen.stdin.write(data)
        self._popen.stdin.flush()

    def abandon(self):
        """End the command's own stdin: without the go-ahead, nothing runs."""
        if self._popen.stdin is not None:
            with contextlib.suppress(OSError):
                self._popen.stdin.close()

    # -- life --------------------------------------------------------------

    def exited(self):
        return self._popen.poll() is not None

    def wait(self, timeout):
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timed_out=False):
        """TERM the remote group, KILL it if it outlives TERM_GRACE, then
        make sure the local client is gone too. The result says why:
        timed out, else cancelled."""
        if self.exited():
            return
        self.stopped = True
        if timed_out:
            self.result.timed_out, self.result.timeout_kind = True, "total"
        else:
            self.result.cancelled = True
        if self.pgid is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                if self.client.signal_group(self.pgid, "TERM") and not self.wait(
                    TERM_GRACE
                ):
                    self.client.signal_group(self.pgid, "KILL")
                    self.wait(TERM_GRACE)
        if not self.exited():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait()

    def finish(self):
        """Fill in the result once the client has exited; ``lost`` tells a
        link that dropped (the exit tag never came and ssh said why)."""
        if self.finished:
            return self.result
        self._popen.wait()
        deadline = time.monotonic() + DRAIN_GRACE
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        for stream in (self._popen.stdout, self._popen.stderr, self._popen.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        result = self.result
        result.duration = time.monotonic() - self._t0
        code = self._popen.returncode
        if self.exit_tag is not None:
            result.exit_code = self.exit_tag
        elif code == 255 and not self.stopped and _LINK_LOST.search(self._said):
            self.lost = True
        elif code != 255:
            # The wrapper never reached its tag: its own failure (setsid
            # missing, sudo refused...), reported as the shell's.
            result.exit_code = code
        # Else killed by a signal on its host: no exit code, as paramiko.
        self.finished = True
        return result

    def lost_error(self):
        said = (self._said.strip().splitlines() or ["no message"])[-1]
        return ConnectionLost(
            f"The connection to {self.client.label} was lost while streaming "
            f"`{self.result.display}` ({mask(said, self.result.secrets)}).",
            pgid=self.pgid,
        )

    def start_error(self):
        """The error of an ``ssh`` that ended before the command started."""
        if self._popen.returncode == 255:
            return self.client.connect_error(self._said)
        return None


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def openssh_pair(src, dst):
    """OpenSshClients for both transports, or None when either cannot be
    reached with the OpenSSH client."""
    if not (usable(src) and usable(dst)):
        return None
    return OpenSshClient(src), OpenSshClient(dst)

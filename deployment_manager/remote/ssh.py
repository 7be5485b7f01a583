"""Commands on another host over SSH (paramiko), with pinned host keys."""

import base64
import binascii
import contextlib
import hashlib
import io
import logging
import os
import re
import shlex
import socket
import threading
import time
from dataclasses import dataclass

import paramiko

from .errors import (
    ConnectError,
    ConnectionLost,
    HostKeyChanged,
    HostKeyUnknown,
    InvalidInput,
    RemoteError,
)
from .transport import (
    GROUP_ALIVE_SH,
    Transport,
    _finish_download,
    _open_new,
    _Process,
    _remove_quietly,
)
from .validation import (
    validate_hostname,
    validate_path,
    validate_port,
    validate_username,
)

# Runs every SSH command. setsid gives the command a process group of its
# own whose id is printed first, so a second channel can kill the whole group
# (closing a channel without a pty signals nothing). Environment variables
# arrive as NAME=value lines on stdin, ended by an empty line, so secrets
# such as PGPASSWORD never appear on a command line visible in `ps`.
# Constant text: the command itself only ever travels as "$@".
_WRAPPER = (
    'echo "dm-pgid $$"; '
    'while IFS= read -r dm_kv && [ -n "$dm_kv" ]; do export "$dm_kv"; done; '
    'unset dm_kv; exec "$@"'
)
_PGID_LINE = re.compile(rb"(?:^|\n)dm-pgid (\d+)\n")
# How long the wrapper may take to print its first line: it is the first
# thing the remote shell does, so this only expires on a wedged host.
_START_TIMEOUT = 30.0
_HELPER_TIMEOUT = 15.0

_logger = logging.getLogger(__name__)


def fingerprint(key_or_base64):
    """OpenSSH-style SHA256 fingerprint of a public key (PKey or base64)."""
    if isinstance(key_or_base64, paramiko.PKey):
        blob = key_or_base64.asbytes()
    else:
        try:
            blob = base64.b64decode(key_or_base64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise InvalidInput(
                "host key", key_or_base64, "it is not base64 text"
            ) from None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    return "SHA256:" + digest.rstrip("=")


@dataclass
class HostKeyInfo:
    key_type: str
    key_base64: str
    fingerprint: str


@dataclass
class SshConfig:
    hostname: str
    port: int = 22
    username: str = "root"
    private_key: str | None = None
    key_path: str | None = None
    passphrase: str | None = None
    pinned_key_type: str | None = None
    pinned_key_base64: str | None = None
    use_sudo: bool = False
    connect_timeout: float = 10.0
    keepalive: int = 15

    def __repr__(self):
        # Never let the key or passphrase reach a log through a repr.
        return (
            f"SshConfig(hostname={self.hostname!r}, port={self.port!r}, "
            f"username={self.username!r}, use_sudo={self.use_sudo!r})"
        )


def _label(username, hostname, port):
    host = f"[{hostname}]" if ":" in hostname else hostname
    return f"{username}@{host}:{port}"


def _classify(exc, where, timeout, elapsed=0.0):
    """Turn a socket/paramiko exception into a ConnectError."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, socket.gaierror):
        return ConnectError(
            f"The host name of {where} could not be resolved ({exc.strerror}).",
            "dns",
        )
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(
            f"{where} refused the connection: no SSH server listens on that port.",
            "refused",
        )
    if isinstance(exc, TimeoutError):
        return ConnectError(
            f"{where} did not answer within {timeout:g} seconds.", "timeout"
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyChanged(
            where, fingerprint(exc.expected_key), fingerprint(exc.key)
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return ConnectError(
            f"{where} rejected the authentication: the configured private key "
            f"is not authorised for this user ({exc}).",
            "auth",
        )
    # paramiko reports a banner or negotiation that never came as a generic
    # SSHException ("No existing session"...): the time spent tells.
    if isinstance(exc, (paramiko.SSHException, EOFError)) and elapsed >= timeout:
        return ConnectError(
            f"{where} did not complete the SSH negotiation within {timeout:g} seconds.",
            "timeout",
        )
    if isinstance(exc, paramiko.SSHException):
        return ConnectError(
            f"The SSH negotiation with {where} failed: {exc}.", "protocol"
        )
    if isinstance(exc, EOFError):
        return ConnectError(
            f"{where} closed the connection during the SSH negotiation.",
            "protocol",
        )
    if isinstance(exc, OSError):
        return ConnectError(
            f"{where} could not be reached: {exc.strerror or exc}.", "refused"
        )
    return ConnectError(f"Connecting to {where} failed: {exc!r}.", "protocol")


def _open_socket(hostname, port, timeout, keepalive=0):
    sock = socket.create_connection((hostname, port), timeout=timeout)
    # paramiko's keepalive only sends; the kernel declares the peer dead
    # when those bytes stay unacknowledged, so a silently dropped link
    # surfaces as ConnectionLost instead of a hang of many minutes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # Each command is a few small packets (channel open, exec request, its
    # stdin's end): with Nagle's algorithm each waited for the server's
    # delayed ACK, 40 ms a command (bench/ssh_command_bench.py).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if keepalive and hasattr(socket, "TCP_USER_TIMEOUT"):
        user_timeout_ms = int(max(30, 4 * keepalive) * 1000)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)
    return sock


def fetch_host_key(hostname, port=22, timeout=10.0):
    """The host key a server presents, without authenticating: the first
    step of pinning it (the administrator compares the fingerprint)."""
    validate_hostname(hostname)
    validate_port(port)
    where = f"{hostname}:{port}"
    sock = None
    transport = None
    try:
        started = time.monotonic()
        sock = _open_socket(hostname, port, timeout)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except Exception as exc:
        elapsed = time.monotonic() - started
        raise _classify(exc, where, timeout, elapsed) from exc
    finally:
        if transport is not None:
            transport.close()
        elif sock is not None:
            sock.close()
    return HostKeyInfo(key.get_name(), key.get_base64(), fingerprint(key))


def _load_private_key(config):
    password = config.passphrase or None
    if config.private_key:
        text, source = config.private_key, "The private key"
    elif config.key_path:
        source = f"The private key {config.key_path}"
        try:
            with open(config.key_path) as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConnectError(f"{source} could not be read: {exc}.", "key") from None
    else:
        raise ConnectError("No private key is configured for this host.", "key")
    text = text.strip() + "\n"
    errors = []
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=password)
        except paramiko.PasswordRequiredException:
            raise ConnectError(
                f"{source} is encrypted and no passphrase is configured.", "key"
            ) from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError) as exc:
            errors.append(f"{key_class.__name__}: {exc}")
    raise ConnectError(
        f"{source} could not be loaded (wrong passphrase, or not an Ed25519, "
        "ECDSA or RSA private key): " + "; ".join(errors) + ".",
        "key",
    )


def _pinned_key(config):
    if not (config.pinned_key_type and config.pinned_key_base64):
        return None
    try:
        blob = base64.b64decode(config.pinned_key_base64, validate=True)
        return paramiko.PKey.from_type_string(config.pinned_key_type, blob)
    except (binascii.Error, ValueError, TypeError, paramiko.SSHException) as exc:
        raise InvalidInput(
            "pinned host key", config.pinned_key_base64, f"it cannot be parsed: {exc}"
        ) from None


class _RejectUnpinned(paramiko.RejectPolicy):
    """Reject like RejectPolicy, but say which key was presented so the
    administrator can compare it and pin it."""

    def __init__(self, where):
        self.where = where

    def missing_host_key(self, client, hostname, key):
        raise HostKeyUnknown(self.where, key.get_name(), fingerprint(key))


class _SshProcess(_Process):
    def __init__(self, owner, transport, argv, env):
        self._owner = owner
        self._t = transport
        self._pending = b""
        command = owner.wrap_argv(["setsid", "-w", "sh", "-c", _WRAPPER, "sh", *argv])
        self._chan = self._open_channel()
        try:
            self._chan.exec_command(shlex.join(command))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # The request may have reached the host: the command may be
            # running, so it is not started a second time.
            if not self._t.is_active():
                raise owner._lost(exc, "starting a command") from exc
            raise RemoteError(
                f"{owner.label} refused to run a command: {exc}.", "channel_failed"
            ) from exc
        self._read_pgid()
        block = "".join(f"{name}={value}\n" for name, value in env.items()) + "\n"
        # the command already ended (e.g. sudo refused); see its result
        with contextlib.suppress(OSError):
            self._chan.sendall(block.encode())

    def _open_channel(self):
        owner = self._owner
        for attempt in (1, 2):
            try:
                return self._t.open_session(timeout=owner.config.connect_timeout)
            except paramiko.ChannelException as exc:
                # E.g. the server's MaxSessions reached: the link is fine.
                raise RemoteError(
                    f"{owner.label} refused to open a channel for a command: {exc}.",
                    "channel_failed",
                ) from exc
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if attempt == 2:
                    raise owner._lost(exc, "starting a command") from exc
            # The link went down while idle between two commands (sshd
            # restarted, a NAT forgot the flow); paramiko may not have noticed
            # yet. Nothing of this command was sent, so it is safe to start it
            # on a new connection; a link that fails again is reported lost.
            self._t = owner._reconnect(self._t)

    def _read_pgid(self):
        chan = self._chan
        chan.settimeout(_START_TIMEOUT)
        buf = b""
        try:
            while True:
                data = chan.recv(4096)
                if not data:
                    break
                buf += data
                match = _PGID_LINE.search(buf)
                if match:
                    self.pgid = int(match.group(1))
                    # Whatever a login script printed before the marker is
                    # not the command's output.
                    buf = buf[match.end() :]
                    break
                if len(buf) > 65536:
                    break
        except TimeoutError:
            chan.close()
            raise RemoteError(
                f"The command did not start on {self._owner.label} within "
                f"{_START_TIMEOUT:g} seconds.",
                "start_timeout",
            ) from None
        finally:
            if not chan.closed:
                chan.settimeout(None)
        self._pending = buf

    def read_stdout(self, n):
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        return self._chan.recv(n)

    def read_stderr(self, n):
        return self._chan.recv_stderr(n)

    def write_stdin(self, data):
        try:
            self._chan.sendall(data)
        except (OSError, EOFError) as exc:
            if self.link_lost():
                raise self._owner._lost(exc, "sending input", self.pgid) from None
            raise BrokenPipeError("the command's standard input is closed") from None

    def close_stdin(self):
        with contextlib.suppress(OSError, EOFError):
            self._chan.shutdown_write()

    def wait_exit(self, timeout):
        # Also set when the channel closes without a status (link lost).
        return self._chan.status_event.wait(timeout)

    def _status_received(self):
        return self._chan.exit_status >= 0

    def exit_code(self):
        if self._status_received():
            return self._chan.exit_status
        # paramiko closes the channels a moment before it flags the
        # transport inactive: give that moment before concluding.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if not self._t.is_active():
                raise self._owner._lost(None, "running a command", self.pgid)
            if self._status_received():
                return self._chan.exit_status
            time.sleep(0.02)
        return None

    def link_lost(self):
        return not self._t.is_active()

    def signal_group(self, name):
        if self.pgid is None:
            self._chan.close()
            return
        self._owner._helper(
            self._t, ["sh", "-c", 'kill -"$1" -"$2"', "sh", name, str(self.pgid)]
        )

    def group_alive(self):
        if self.pgid is None:
            return False
        code = self._owner._helper(
            self._t,
            ["sh", "-c", GROUP_ALIVE_SH + 'dm_alive "$1"', "sh", str(self.pgid)],
        )
        return code == 0

    def close(self):
        self._chan.close()


class SshTransport(Transport):
    """One SSH connection to one host, opened on first use and reused for
    every command; reopened on the next use after a drop."""

    def __init__(self, config):
        validate_hostname(config.hostname)
        validate_port(config.port)
        validate_username(config.username)
        self.config = config
        self.use_sudo = bool(config.use_sudo)
        self.label = _label(config.username, config.hostname, config.port)
        self._client = None
        self._lock = threading.Lock()
        # Hardened servers disable the SFTP subsystem: learnt on the first
        # transfer, then files go through plain commands, as with sudo.
        self.sftp_unavailable = False

    # -- connection --------------------------------------------------------

    def connect(self):
        self._transport()
        return self

    @property
    def connected(self):
        client = self._client
        transport = client.get_transport() if client else None
        return bool(transport and transport.is_active())

    def _transport(self):
        with self._lock:
            client = self._client
            transport = client.get_transport() if client else None
            if transport is None or not transport.is_active():
                if client is not None:
                    client.close()
                    self._client = None
                self._client = self._connect()
                transport = self._client.get_transport()
            return transport

    def _reconnect(self, dead):
        """A new connection in place of ``dead`` (unless another thread has
        already replaced it)."""
        with self._lock:
            client = self._client
            if client is not None and client.get_transport() is dead:
                client.close()
                self._client = None
        return self._transport()

    def _connect(self):
        config = self.config
        timeout = float(config.connect_timeout)
        pkey = _load_private_key(config)
        pinned = _pinned_key(config)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_RejectUnpinned(self.label))
        if pinned is not None:
            # The name paramiko looks the key up under, as in known_hosts.
            name = (
                config.hostname
                if config.port == 22
                else f"[{config.hostname}]:{config.port}"
            )
            client.get_host_keys().add(name, pinned.get_name(), pinned)
        sock = None
        started = time.monotonic()
        try:
            sock = _open_socket(config.hostname, config.port, timeout, config.keepalive)
            client.connect(
                config.hostname,
                port=config.port,
                username=config.username,
                pkey=pkey,
                sock=sock,
                look_for_keys=False,
                allow_agent=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
            )
        except Exception as exc:
            client.close()
            if sock is not None:
                sock.close()
            elapsed = time.monotonic() - started
            raise _classify(exc, self.label, timeout, elapsed) from exc
        if config.keepalive:
            client.get_transport().set_keepalive(int(config.keepalive))
        return client

    def close(self):
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _lost(self, exc, doing, pgid=None):
        detail = f" ({exc})" if exc else ""
        return ConnectionLost(
            f"The connection to {self.label} was lost while {doing}{detail}.",
            pgid=pgid,
        )

    def _helper(self, transport, argv):
        """Run a short control command (kill) on the given connection and
        return its exit code; ConnectionLost if that connection is gone."""
        chan = None
        try:
            chan = transport.open_session(timeout=_HELPER_TIMEOUT)
            chan.settimeout(_HELPER_TIMEOUT)
            chan.exec_command(shlex.join(self.wrap_argv(argv)))
            chan.shutdown_write()
            while chan.recv(4096):
                pass
            while chan.recv_stderr(4096):
                pass
            if not chan.status_event.wait(_HELPER_TIMEOUT):
                return None
            return chan.exit_status if chan.exit_status >= 0 else None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if not transport.is_active():
                raise self._lost(exc, "signalling a command") from exc
            raise RemoteError(
                f"A control command failed on {self.label}: {exc}.", "protocol"
            ) from exc
        finally:
            if chan is not None:
                chan.close()

    def _spawn(self, argv, env):
        return _SshProcess(self, self._transport(), argv, env)

    def test_connection(self):
        """Connect and identify the remote side: a check for the UI."""
        key = self._transport().get_remote_server_key()
        info = super().test_connection()
        info["host_key_type"] = key.get_name()
        info["host_key_fingerprint"] = fingerprint(key)
        return info

    # -- files -------------------------------------------------------------

    def _sftp(self):
        """An SFTP session, or None when the server offers no SFTP."""
        if self.sftp_unavailable:
            return None
        transport = self._transport()
        try:
            chan = transport.open_session(timeout=self.config.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if not transport.is_active():
                raise self._lost(exc, "opening SFTP") from exc
            raise RemoteError(
                f"{self.label} refused to open a channel for SFTP: {exc}.",
                "channel_failed",
            ) from exc
        try:
            chan.invoke_subsystem("sftp")
            return paramiko.SFTPClient(chan)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            if not transport.is_active():
                raise self._lost(exc, "opening SFTP") from exc
            # The link is up but sshd refused the subsystem ("Channel
            # closed.": no `Subsystem sftp` line) or its program did not
            # start: not a lost connection. Remembered for this transport.
            _logger.info(
                "SFTP is unavailable on %s (%s): files are copied through "
                "plain commands (cat) instead, with the same checksums.",
                self.label,
                exc,
            )
            self.sftp_unavailable = True
            return None

    def _transfer_error(self, exc, doing):
        if not self.connected:
            return self._lost(exc, doing)
        return RemoteError(
            f"SFTP failed on {self.label} while {doing}: {exc}.", "transfer_failed"
        )

    def put_file(self, local_path, remote_path):
        validate_path(remote_path, "remote_path")
        # With sudo, SFTP would write as the login user, not as root.
        sftp = None if self.use_sudo else self._sftp()
        if sftp is None:
            return self._put_streamed(local_path, remote_path)
        tmp_path = self._partial_name(remote_path)
        try:
            with open(local_path, "rb") as source:
                reader = _HashingReader(source)
                try:
                    sftp.putfo(reader, tmp_path, confirm=True)
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    _sftp_remove(sftp, tmp_path)
                    raise self._transfer_error(exc, f"uploading {remote_path}") from exc
        finally:
            sftp.close()
        return self._commit_upload(tmp_path, remote_path, reader.hexdigest())

    def get_file(self, remote_path, local_path):
        validate_path(remote_path, "remote_path")
        sftp = None if self.use_sudo else self._sftp()
        if sftp is None:
            return self._get_streamed(remote_path, local_path)
        try:
            return self._get_sftp(sftp, remote_path, local_path)
        finally:
            sftp.close()

    def _get_sftp(self, sftp, remote_path, local_path):
        expected = self.sha256(remote_path)
        tmp_path = f"{local_path}.dm-part-{os.urandom(4).hex()}"
        try:
            with _open_new(tmp_path) as target:
                writer = _HashingWriter(target)
                try:
                    sftp.getfo(remote_path, writer)
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    raise self._transfer_error(
                        exc, f"downloading {remote_path}"
                    ) from exc
            return _finish_download(
                tmp_path, local_path, expected, writer.hexdigest(), self.label
            )
        finally:
            _remove_quietly(tmp_path)


def _sftp_remove(sftp, path):
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        sftp.remove(path)


class _HashingReader:
    def __init__(self, raw):
        self._raw = raw
        self._digest = hashlib.sha256()

    def read(self, n=-1):  # pylint: disable=method-required-super  # not an Odoo model
        data = self._raw.read(n)
        self._digest.update(data)
        return data

    def hexdigest(self):
        return self._digest.hexdigest()


class _HashingWriter:
    def __init__(self, raw):
        self._raw = raw
        self._digest = hashlib.sha256()

    def write(self, data):  # pylint: disable=method-required-super  # not an Odoo model
        self._digest.update(data)
        return self._raw.write(data)

    def hexdigest(self):
        return self._digest.hexdigest()

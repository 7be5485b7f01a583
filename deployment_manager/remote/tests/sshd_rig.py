"""A real OpenSSH server on a loopback address, standing in for a managed
host in tests (this module's and the Odoo ones).

Each SshdHost has its own generated host key and client key pair and
listens on a free port of its own 127.0.0.x address. Needs root (sshd's
privilege separation) and /usr/sbin/sshd.
"""

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from ..ssh import SshConfig, fingerprint

SSHD = "/usr/sbin/sshd"


def _free_port(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _children(pid):
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return [child.pid for child in psutil.Process(pid).children()]
        except psutil.NoSuchProcess:
            return []
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
    return found


def _process_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


class SshdHost:
    """An sshd on ``address``; use as a context manager or start()/stop()."""

    username = "root"
    host_key_type = "ssh-ed25519"

    def __init__(self, address="127.0.0.2", workdir=None, sftp=True):
        self.address = address
        # Hardened servers drop the SFTP subsystem; sftp=False serves none.
        self.sftp = sftp
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.port = None
        self.process = None
        self.client_key_path = None
        self.client_key_text = None
        self.host_key_base64 = None
        self.host_key_fingerprint = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="sshd-rig-")
        self.workdir = os.path.abspath(self.workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self._generate_host_key()
        self.client_key_path = os.path.join(self.workdir, "client_ed25519")
        if not os.path.exists(self.client_key_path):
            _keygen(self.client_key_path, "rig-client")
        with open(self.client_key_path) as handle:
            self.client_key_text = handle.read()
        shutil.copyfile(
            self.client_key_path + ".pub", os.path.join(self.workdir, "authorized_keys")
        )
        if self.port is None:
            self.port = _free_port(self.address)
        self._write_config()
        self._launch()
        return self

    def stop(self):
        if self.process is not None:
            self.kill_sessions()
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self._keep_log()
            self.process = None
        if self.workdir and self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # -- what tests use ----------------------------------------------------

    def ssh_config(self, **overrides):
        """An SshConfig for this host with its key already pinned."""
        config = SshConfig(
            hostname=self.address,
            port=self.port,
            username=self.username,
            private_key=self.client_key_text,
            pinned_key_type=self.host_key_type,
            pinned_key_base64=self.host_key_base64,
            connect_timeout=5.0,
            keepalive=5,
        )
        return dataclasses.replace(config, **overrides)

    def regenerate_host_key(self):
        """A new host key, served on the same port: a host that was
        reinstalled, or a man in the middle."""
        self._stop_listener()
        for suffix in ("", ".pub"):
            os.unlink(self._host_key_path + suffix)
        self._generate_host_key()
        self._launch()

    def kill_sessions(self):
        """SIGKILL the sshd processes serving sessions, not the listener:
        every open connection drops as on a real network failure."""
        if self.process is None:
            return
        pending = _children(self.process.pid)
        victims = []
        while pending:
            pid = pending.pop()
            if _process_name(pid) == "sshd":
                victims.append(pid)
                pending.extend(_children(pid))
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # -- internals ---------------------------------------------------------

    @property
    def _host_key_path(self):
        return os.path.join(self.workdir, "host_ed25519")

    def _generate_host_key(self):
        if not os.path.exists(self._host_key_path):
            _keygen(self._host_key_path, "rig-host")
        with open(self._host_key_path + ".pub") as handle:
            key_type, key_base64 = handle.read().split()[:2]
        self.host_key_type = key_type
        self.host_key_base64 = key_base64
        self.host_key_fingerprint = fingerprint(key_base64)

    def _write_config(self):
        self.config_path = os.path.join(self.workdir, "sshd_config")
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.address}",
            f"HostKey {self._host_key_path}",
            f"PidFile {os.path.join(self.workdir, 'sshd.pid')}",
            f"AuthorizedKeysFile {os.path.join(self.workdir, 'authorized_keys')}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            # INFO: sshd says why it closes a connection ("Disconnecting ...").
            "LogLevel INFO",
        ]
        if self.sftp:
            lines.append("Subsystem sftp internal-sftp")
        with open(self.config_path, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def _launch(self):
        # Privilege separation refuses to start without this directory.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self._log_path = os.path.join(self.workdir, "sshd.log")
        # sshd gets its own copy of the descriptor: ours can close at once.
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", self.config_path],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited at start: {self._read_log()}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen in time: {self._read_log()}")

    def _stop_listener(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(5)
            self.process = None

    def _keep_log(self):
        """Copy sshd's log into $DM_SSHD_LOG_DIR, when set: setup/run-tests
        shows what sshd said when a test failed on a dropped connection."""
        keep_dir = os.environ.get("DM_SSHD_LOG_DIR")
        if not keep_dir or not os.path.exists(self._log_path):
            return
        os.makedirs(keep_dir, exist_ok=True)
        name = f"sshd-{self.address}-{self.port}-{self.process.pid}.log"
        shutil.copyfile(self._log_path, os.path.join(keep_dir, name))

    def _read_log(self):
        try:
            with open(self._log_path) as handle:
                return handle.read()[-2000:]
        except OSError:
            return ""


def _keygen(path, comment):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )

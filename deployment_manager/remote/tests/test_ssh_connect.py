"""Connecting over SSH: pinned host keys, authentication and error classes."""

import os
import socket
import subprocess

import pytest

from .. import ssh
from ..errors import ConnectError, HostKeyChanged, HostKeyUnknown
from .sshd_rig import _free_port, _keygen


def _keygen_fingerprint(pub_path):
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", pub_path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()[1]


def test_pinned_key_connects_and_runs_a_command(host_a):
    """With the host key pinned, a command runs and its output comes back."""
    with ssh.SshTransport(host_a.ssh_config()) as transport:
        result = transport.run(["echo", "hello"])
        info = transport.test_connection()
    assert result.ok
    assert result.stdout.text() == "hello\n"
    assert info["user"] == "root"
    assert info["uname"].startswith("Linux")
    assert info["host_key_fingerprint"] == host_a.host_key_fingerprint


def test_one_connection_is_reused_for_all_commands(host_a):
    """Several commands share a single SSH connection."""
    with ssh.SshTransport(host_a.ssh_config()) as transport:
        client_ports = {
            transport.run(["sh", "-c", 'set -- $SSH_CLIENT; echo "$2"']).stdout.text()
            for _ in range(3)
        }
    assert len(client_ports) == 1


def test_unknown_host_key_is_refused_with_its_fingerprint(host_a):
    """Without a pinned key the connection is refused, naming the presented key."""
    config = host_a.ssh_config(pinned_key_type=None, pinned_key_base64=None)
    with pytest.raises(HostKeyUnknown) as info:
        ssh.SshTransport(config).connect()
    error = info.value
    assert error.reason == "host_key_unknown"
    assert error.key_type == "ssh-ed25519"
    assert error.presented_fingerprint == host_a.host_key_fingerprint
    assert host_a.host_key_fingerprint in str(error)
    assert "not pinned" in str(error)


def test_changed_host_key_is_refused_with_both_fingerprints(fresh_host):
    """After the server's key changes, the old pin refuses the connection."""
    old_config = fresh_host.ssh_config()
    old_fingerprint = fresh_host.host_key_fingerprint
    fresh_host.regenerate_host_key()
    assert fresh_host.host_key_fingerprint != old_fingerprint
    with pytest.raises(HostKeyChanged) as info:
        ssh.SshTransport(old_config).connect()
    error = info.value
    assert error.reason == "host_key_changed"
    assert error.expected_fingerprint == old_fingerprint
    assert error.presented_fingerprint == fresh_host.host_key_fingerprint
    assert old_fingerprint in str(error)
    assert fresh_host.host_key_fingerprint in str(error)
    with ssh.SshTransport(fresh_host.ssh_config()) as transport:
        assert transport.run(["true"]).ok


def test_wrong_client_key_is_an_auth_error(host_a, tmp_path):
    """A client key that is not authorised fails with reason "auth"."""
    other = str(tmp_path / "other_key")
    _keygen(other, "not-authorised")
    with open(other) as handle:
        config = host_a.ssh_config(private_key=handle.read())
    with pytest.raises(ConnectError) as info:
        ssh.SshTransport(config).connect()
    assert info.value.reason == "auth"


def test_closed_port_is_refused(host_a):
    """Nothing listening on the port gives reason "refused"."""
    config = host_a.ssh_config(port=_free_port(host_a.address))
    with pytest.raises(ConnectError) as info:
        ssh.SshTransport(config).connect()
    assert info.value.reason == "refused"


def test_unresolvable_name_is_a_dns_error(host_a):
    """A host name that does not resolve gives reason "dns"."""
    config = host_a.ssh_config(hostname="no-such-host.invalid")
    with pytest.raises(ConnectError) as info:
        ssh.SshTransport(config).connect()
    assert info.value.reason == "dns"


def test_silent_server_is_a_timeout(host_a):
    """A server that accepts but never speaks SSH fails as "timeout"."""
    with socket.socket() as listener:
        listener.bind((host_a.address, 0))
        listener.listen(1)
        config = host_a.ssh_config(port=listener.getsockname()[1], connect_timeout=1.0)
        with pytest.raises(ConnectError) as info:
            ssh.SshTransport(config).connect()
    assert info.value.reason == "timeout"


def test_unreadable_or_locked_private_key_is_a_key_error(host_a, tmp_path):
    """Garbage, a missing passphrase or a wrong one give reason "key"."""
    locked = str(tmp_path / "locked")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "right-pass", "-f", locked],
        check=True,
    )
    with open(locked) as handle:
        locked_text = handle.read()
    for overrides in (
        {"private_key": "not a key"},
        {"private_key": locked_text},
        {"private_key": locked_text, "passphrase": "wrong-pass"},
        {"private_key": None, "key_path": locked, "passphrase": "wrong-pass"},
        {"private_key": None, "key_path": str(tmp_path / "missing")},
    ):
        with pytest.raises(ConnectError) as info:
            ssh.SshTransport(host_a.ssh_config(**overrides)).connect()
        assert info.value.reason == "key", overrides


def test_key_from_path_with_passphrase_authenticates(host_a, tmp_path):
    """An encrypted key file with its passphrase is accepted when authorised."""
    locked = str(tmp_path / "locked")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret", "-f", locked],
        check=True,
    )
    with (
        open(locked + ".pub") as pub,
        open(os.path.join(host_a.workdir, "authorized_keys"), "a") as authorized,
    ):
        authorized.write(pub.read())
    config = host_a.ssh_config(private_key=None, key_path=locked, passphrase="s3cret")
    with ssh.SshTransport(config) as transport:
        assert transport.run(["id", "-un"]).stdout.text() == "root\n"


def test_fetch_host_key_returns_the_servers_fingerprint(host_a):
    """fetch_host_key reports the same key and fingerprint as ssh-keygen."""
    info = ssh.fetch_host_key(host_a.address, host_a.port, timeout=5)
    pub = os.path.join(host_a.workdir, "host_ed25519.pub")
    assert info.key_type == "ssh-ed25519"
    assert info.key_base64 == host_a.host_key_base64
    assert info.fingerprint == _keygen_fingerprint(pub)
    assert ssh.fingerprint(info.key_base64) == info.fingerprint


def test_fetch_host_key_classifies_errors(host_a):
    """fetch_host_key fails with the same reasons as a connection."""
    with pytest.raises(ConnectError) as info:
        ssh.fetch_host_key(host_a.address, _free_port(host_a.address), timeout=5)
    assert info.value.reason == "refused"
    with pytest.raises(ConnectError) as info:
        ssh.fetch_host_key("no-such-host.invalid", 22, timeout=5)
    assert info.value.reason == "dns"


def test_config_repr_hides_secrets(host_a):
    """An SshConfig printed in a log shows neither the key nor the passphrase."""
    config = host_a.ssh_config(passphrase="hunter2")
    assert "hunter2" not in repr(config)
    assert "PRIVATE KEY" not in repr(config)

"""File transfer with sha256 verification, over SFTP, over plain commands
when the server has no SFTP, and locally."""

import hashlib
import logging
import os
import stat

import paramiko
import pytest

from ..errors import ConnectionLost, InvalidInput, RemoteError
from ..ssh import SshTransport
from .sshd_rig import SshdHost


def test_put_and_get_roundtrip_with_checksums(transport, tmp_path):
    """A file uploaded then downloaded is identical, with matching sha256."""
    payload = os.urandom(3_000_000)
    expected = hashlib.sha256(payload).hexdigest()
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    remote_path = str(tmp_path / "remote" / "copy.bin")
    os.makedirs(os.path.dirname(remote_path))
    assert transport.put_file(str(source), remote_path) == expected
    assert transport.sha256(remote_path) == expected
    back = tmp_path / "back.bin"
    assert transport.get_file(remote_path, str(back)) == expected
    assert back.read_bytes() == payload
    # Downloads are often backups: readable by the manager only.
    assert stat.S_IMODE(back.stat().st_mode) == 0o600
    # Nothing is left behind under a temporary name.
    assert sorted(os.listdir(tmp_path / "remote")) == ["copy.bin"]
    assert sorted(os.listdir(tmp_path)) == ["back.bin", "remote", "source.bin"]


def test_upload_into_a_missing_directory_fails_cleanly(transport, tmp_path):
    """An upload that cannot be written raises RemoteError and leaves nothing."""
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    with pytest.raises(RemoteError):
        transport.put_file(str(source), str(tmp_path / "missing" / "copy.bin"))
    assert not (tmp_path / "missing").exists()


def test_download_of_a_missing_file_fails_cleanly(transport, tmp_path):
    """Downloading a file that does not exist raises and creates nothing."""
    with pytest.raises(RemoteError):
        transport.get_file(str(tmp_path / "nothing.bin"), str(tmp_path / "out.bin"))
    assert os.listdir(tmp_path) == []


def test_remote_paths_are_validated(transport, tmp_path):
    """A relative or traversing remote path is refused before any transfer."""
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    for bad in ("relative/path", "/tmp/../etc/passwd", "/tmp/a b"):
        with pytest.raises(InvalidInput):
            transport.put_file(str(source), bad)
        with pytest.raises(InvalidInput):
            transport.get_file(bad, str(tmp_path / "out"))


@pytest.fixture(scope="module")
def no_sftp_host():
    """A hardened server: sshd without the `Subsystem sftp` line."""
    with SshdHost("127.0.0.21", sftp=False) as rig:
        yield rig


def test_files_go_through_commands_when_sftp_is_disabled(
    no_sftp_host, tmp_path, monkeypatch, caplog
):
    """Without SFTP on the server, uploads and downloads still work, verified
    by sha256 on both ends; the missing subsystem is found out once and said
    plainly, never reported as a lost connection."""
    payload = os.urandom(3_000_000)
    expected = hashlib.sha256(payload).hexdigest()
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    (tmp_path / "remote").mkdir()
    remote_path = str(tmp_path / "remote" / "copy.bin")
    requests = []
    invoke = paramiko.Channel.invoke_subsystem

    def counting(channel, name):
        requests.append(name)
        return invoke(channel, name)

    monkeypatch.setattr(paramiko.Channel, "invoke_subsystem", counting)
    caplog.set_level(logging.INFO, logger="deployment_manager.remote.ssh")
    with SshTransport(no_sftp_host.ssh_config()) as transport:
        assert transport.put_file(str(source), remote_path) == expected
        assert transport.sftp_unavailable
        assert transport.sha256(remote_path) == expected
        back = tmp_path / "back.bin"
        assert transport.get_file(remote_path, str(back)) == expected
        assert back.read_bytes() == payload
        assert stat.S_IMODE(back.stat().st_mode) == 0o600
        # A failure is the command's, with its reason, not a lost link.
        with pytest.raises(RemoteError) as info:
            transport.get_file(str(tmp_path / "nothing.bin"), str(tmp_path / "x"))
        assert not isinstance(info.value, ConnectionLost)
        assert "lost" not in str(info.value)
        assert transport.connected
    assert requests == ["sftp"]
    assert f"SFTP is unavailable on {transport.label}" in caplog.text
    assert sorted(os.listdir(tmp_path / "remote")) == ["copy.bin"]
    assert sorted(os.listdir(tmp_path)) == ["back.bin", "remote", "source.bin"]


def test_a_corrupted_upload_without_sftp_is_refused(
    no_sftp_host, tmp_path, monkeypatch
):
    """The command path keeps the checksum comparison: a copy that does not
    match what was sent is removed and reported."""
    source = tmp_path / "source.bin"
    source.write_bytes(b"the real content\n")
    (tmp_path / "remote").mkdir()
    remote_path = str(tmp_path / "remote" / "copy.bin")
    with SshTransport(no_sftp_host.ssh_config()) as transport:
        real_sha256 = transport.sha256

        def tampered(path):
            with open(path, "ab") as handle:  # the rig's "remote" disk is ours
                handle.write(b"tampered")
            return real_sha256(path)

        monkeypatch.setattr(transport, "sha256", tampered)
        with pytest.raises(RemoteError) as info:
            transport.put_file(str(source), remote_path)
    assert info.value.reason == "checksum"
    assert os.listdir(tmp_path / "remote") == []

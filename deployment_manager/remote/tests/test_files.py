"""File transfer with sha256 verification, over SFTP and locally."""

import hashlib
import os
import stat

import pytest

from ..errors import InvalidInput, RemoteError


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

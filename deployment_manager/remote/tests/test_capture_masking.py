"""Bounded output capture and secret masking."""

import shlex

import pytest

from ..capture import BoundedCapture, OutputTooLarge
from ..masking import MASK, display_argv, mask


def test_capture_keeps_head_tail_and_exact_count():
    """Past head+tail, the excerpt shows both ends and how much was left out."""
    capture = BoundedCapture(head_limit=4, tail_limit=3, spool_limit=10)
    for piece in (b"ab", b"cdef", b"ghij", b"kl"):
        capture.feed(piece)
    assert capture.total_bytes == 12
    assert capture.truncated
    assert capture.excerpt() == "abcd\n… [5 bytes omitted] …\njkl"
    assert capture.full_bytes() is None
    capture.close()


def test_capture_under_the_limits_is_whole():
    """Small output is returned whole, both as excerpt and as full bytes."""
    capture = BoundedCapture(head_limit=4, tail_limit=4, spool_limit=100)
    capture.feed(b"abcdefg")
    assert not capture.truncated
    assert capture.excerpt() == "abcdefg"
    assert capture.full_bytes() == b"abcdefg"
    assert BoundedCapture().full_bytes() == b""


def test_capture_spools_until_the_limit():
    """full_bytes is exact up to spool_limit, including beyond the in-memory part."""
    capture = BoundedCapture(spool_limit=3_000_000)
    data = bytes(range(256)) * 10_000
    capture.feed(data)
    assert capture.full_bytes() == data
    capture.feed(data)
    assert capture.full_bytes() is None
    assert capture.total_bytes == 2 * len(data)


def test_capture_text_is_whole_or_refused():
    """text() is the whole output or an error, never a cut copy; a capture
    without a spool (a streamed command's) still has its short output."""
    capture = BoundedCapture(head_limit=4, tail_limit=3, spool_limit=10)
    capture.feed(b"0123456789")
    assert capture.text() == "0123456789"
    capture.feed(b"x")
    with pytest.raises(OutputTooLarge) as info:
        capture.text()
    assert info.value.reason == "output_too_large"
    assert info.value.total == 11
    assert capture.text_or_excerpt() == "0123\n… [4 bytes omitted] …\n89x"
    streamed = BoundedCapture(spool_limit=0)
    streamed.feed(b"short")
    assert streamed.text() == "short"
    assert streamed.full_bytes() == b"short"
    streamed.close()
    assert streamed.text() == "short"


def test_capture_decodes_invalid_utf8_with_replacement():
    """Binary output never breaks the excerpt."""
    capture = BoundedCapture()
    capture.feed(b"ok \xff\xfe end")
    assert capture.excerpt() == "ok \ufffd\ufffd end"


def test_mask_replaces_every_secret():
    """Every occurrence of every secret is replaced, longest first."""
    text = "user=admin password=s3cret again s3cret and s3cret-long"
    masked = mask(text, ["s3cret", "s3cret-long", "", None])
    assert "s3cret" not in masked
    assert masked.count(MASK) == 3
    assert mask("nothing", []) == "nothing"


def test_display_never_contains_a_secret():
    """The display of an argv masks secrets even where shlex quoting applies."""
    secret = "p@ss word"
    argv = ["pg_dump", f"--password={secret}", "-d", "prod"]
    display = display_argv(argv, [secret])
    assert secret not in display
    assert MASK in display
    assert display == mask(shlex.join(argv), [secret])

"""Bounded capture of a command's output stream.

Commands such as ``pg_dump`` or a verbose ``odoo -u`` can print hundreds of
megabytes: the journal only ever needs the beginning and the end, while some
callers (reading a small file) need the whole output. This keeps an exact
byte count, a head and a tail of fixed size, and a full copy only while it
stays under ``spool_limit``. Asking for the whole text of an output that
outgrew it raises OutputTooLarge: a listing or a file silently cut short
would be read as complete.
"""

import tempfile
import threading

from .errors import RemoteError

_SPOOL_MEMORY = 1 << 20


class OutputTooLarge(RemoteError):
    """The whole output was asked for, but only its head and tail were kept."""

    def __init__(self, source, limit, total):
        self.source = source
        self.limit = limit
        self.total = total
        super().__init__(
            f"{source} is larger than the {_size(limit)} kept whole "
            f"({total} bytes so far): it cannot be read in full, and it is not "
            "used cut short.",
            "output_too_large",
        )


def _size(count):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift and count % (1 << shift) == 0:
            return f"{count >> shift} {unit}"
    return f"{count} bytes"


def format_excerpt(head, tail, omitted):
    """Render head/tail bytes the way every excerpt in the journal looks."""
    text = head.decode("utf-8", errors="replace")
    if omitted > 0:
        text += f"\n… [{omitted} bytes omitted] …\n"
    return text + tail.decode("utf-8", errors="replace")


class BoundedCapture:
    """Thread-safe sink that keeps the head, the tail and an exact count."""

    def __init__(
        self,
        head_limit=32768,
        tail_limit=32768,
        spool_limit=8 * 1024 * 1024,
        source="The output of a command",
    ):
        # What OutputTooLarge names: "The output of `git ls-tree ...` on host".
        self.source = source
        self.head_limit = max(0, int(head_limit))
        self.tail_limit = max(0, int(tail_limit))
        self.spool_limit = max(0, int(spool_limit))
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0
        self._lock = threading.Lock()
        self._spool_overflowed = False
        self._closed = False
        # Up to 1 MiB in memory, the rest on disk, so a capture under the
        # 8 MiB default never holds more than that in the worker's memory.
        # It lives as long as the capture (closed in close() or on overflow),
        # hence no context manager.
        self._spool = None
        if self.spool_limit:
            self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=min(self.spool_limit, _SPOOL_MEMORY)
            )

    def feed(self, data):
        if not data:
            return
        with self._lock:
            self._total += len(data)
            view = memoryview(data)
            room = self.head_limit - len(self._head)
            if room > 0:
                self._head += view[:room]
                view = view[room:]
            if len(view) and self.tail_limit:
                if len(view) >= self.tail_limit:
                    self._tail[:] = view[-self.tail_limit :]
                else:
                    self._tail += view
                    excess = len(self._tail) - self.tail_limit
                    if excess > 0:
                        del self._tail[:excess]
            if self._spool is not None:
                if self._total <= self.spool_limit:
                    self._spool.write(data)
                else:
                    # Past the limit the copy is useless: free it now.
                    self._spool.close()
                    self._spool = None
                    self._spool_overflowed = True

    def count_unseen(self, count):
        """Count ``count`` bytes that went by without passing through here
        (a stream the kernel moved): only the total knows of them."""
        with self._lock:
            self._total += count
            if count and self._spool is not None:
                self._spool.close()
                self._spool = None
                self._spool_overflowed = True

    @property
    def total_bytes(self):
        return self._total

    @property
    def truncated(self):
        return self._total > len(self._head) + len(self._tail)

    @property
    def omitted_bytes(self):
        return self._total - len(self._head) - len(self._tail)

    def head_bytes(self):
        with self._lock:
            return bytes(self._head)

    def tail_bytes(self):
        with self._lock:
            return bytes(self._tail)

    def excerpt(self):
        with self._lock:
            return format_excerpt(
                bytes(self._head), bytes(self._tail), self.omitted_bytes
            )

    def full_bytes(self):
        """The complete output, or None if it was larger than spool_limit
        (and than the head and tail together)."""
        with self._lock:
            if self._total <= len(self._head) + len(self._tail):
                # All of it is in the head and the tail (e.g. the short
                # output of a streamed command, which has no spool).
                return bytes(self._head) + bytes(self._tail)
            if self._spool is None:
                return None
            position = self._spool.tell()
            self._spool.seek(0)
            data = self._spool.read()
            self._spool.seek(position)
            return data

    @property
    def overflowed(self):
        """True once the output outgrew spool_limit: only the head and the
        tail are left."""
        return self._spool_overflowed

    def text(self):
        """The full output decoded; OutputTooLarge beyond spool_limit."""
        data = self.full_bytes()
        if data is None:
            if self._closed:
                raise ValueError(f"{self.source} was already released.")
            kept = max(self.spool_limit, self.head_limit + self.tail_limit)
            raise OutputTooLarge(self.source, kept, self._total)
        return data.decode("utf-8", errors="replace")

    def text_or_excerpt(self):
        """The full output decoded, or its head and tail with a marker of
        what was left out: for logs, where both ends are what matters."""
        data = self.full_bytes()
        if data is None:
            return self.excerpt()
        return data.decode("utf-8", errors="replace")

    def close(self):
        with self._lock:
            self._closed = True
            if self._spool is not None:
                self._spool.close()
                self._spool = None

    def __repr__(self):
        return f"<BoundedCapture {self._total} bytes>"

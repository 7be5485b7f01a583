"""A real SMTP server for the tests: ``aiosmtpd`` on 127.0.0.1, keeping
every message it is handed, refusing none.

    with SmtpSink() as sink:
        ...  # point an Odoo mail server at sink.host, sink.port
        assert sink.wait_for(1)
"""

import email
import threading
import time

from aiosmtpd.controller import Controller

from .production import free_port


class SmtpSink:
    """Every message received, in order, as ``(mail_from, rcpt_tos, bytes)``."""

    host = "127.0.0.1"

    def __init__(self):
        self.port = free_port()
        self._lock = threading.Lock()
        self._messages = []
        self._controller = Controller(self, hostname=self.host, port=self.port)

    # The name aiosmtpd calls for each message, once the DATA is in.
    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self._messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        with self._lock:
            return list(self._messages)

    def subjects(self):
        """The subject of every message received, in order."""
        return [email.message_from_bytes(m[2])["Subject"] for m in self.messages]

    def wait_for(self, count, timeout=30):
        """True once ``count`` messages have arrived, False at the timeout."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def __enter__(self):
        self._controller.start()
        return self

    def __exit__(self, *exc):
        self._controller.stop()

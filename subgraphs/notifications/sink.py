"""The development mail sink: a real SMTP server (aiosmtpd) that keeps every mail it is
given in a Maildir, which /dev/mailbox shows. `make dev` runs it (`coursegraph
notifications mail-sink`); tests run it on a free port. Never for production."""

from __future__ import annotations

from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


class MailSink:
    def __init__(self, maildir: Path, *, host: str = "127.0.0.1", port: int) -> None:
        # A Maildir's three folders (mailbox.Maildir makes them only for a new path).
        for folder in ("tmp", "new", "cur"):
            (maildir / folder).mkdir(parents=True, exist_ok=True)
        self.maildir = maildir
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> MailSink:
        """Listening when this returns (aiosmtpd connects to itself once to be sure)."""
        controller = Controller(Mailbox(self.maildir), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

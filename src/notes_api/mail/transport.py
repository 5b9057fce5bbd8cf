"""Handing one message to the SMTP server of `SMTP_URL`, or to the log in development.

smtplib is blocking: `deliver` runs it in a thread, so the event loop never
waits on the network. Messages are `email.message.EmailMessage` objects built
with `email.policy.SMTP`, which refuses a header value holding CR or LF: an
address or subject can never add a header of its own. The envelope's recipient
is passed explicitly: smtplib would otherwise parse the `To:` header for it, and a
parser reads `a,b@x` or an RFC 2047 encoded word as several recipients.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from notes_api.smtp_url import SmtpTarget

SMTP_TIMEOUT_SECONDS = 30
"""Per socket operation; the outbox's claim on a mail lasts much longer (see `outbox.LEASE`)."""

logger = logging.getLogger("notes_api.mail")


class Transport(Protocol):
    async def deliver(self, message: EmailMessage, recipient: str) -> None: ...


class PermanentFailure(Exception):
    """The server refused the recipient for good (5xx): retrying would not help."""


class SmtpTransport:
    def __init__(self, target: SmtpTarget) -> None:
        self.target = target

    async def deliver(self, message: EmailMessage, recipient: str) -> None:
        await asyncio.to_thread(self._send, message, recipient)

    def _send(self, message: EmailMessage, recipient: str) -> None:
        target = self.target
        context = ssl.create_default_context()  # verifies the certificate and the host name
        client: smtplib.SMTP
        if target.security == "tls":
            client = smtplib.SMTP_SSL(
                target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT_SECONDS)
        with client:
            if target.security == "starttls":
                client.starttls(context=context)  # raises if the server does not offer it
            if target.username is not None:
                client.login(target.username, target.password or "")
            try:
                client.send_message(message, to_addrs=[recipient])
            except smtplib.SMTPRecipientsRefused as exc:
                codes = {code for code, _ in exc.recipients.values()}
                if all(500 <= code < 600 for code in codes):
                    raise PermanentFailure("recipient refused") from None
                raise


class LogTransport:
    """Development without `SMTP_URL`: the mail goes to the log, link included.

    Acceptable only because there is no other way to read it there; production
    without `SMTP_URL` never gets this far (the routes that send mail answer 404).
    """

    async def deliver(self, message: EmailMessage, recipient: str) -> None:
        logger.warning(
            "SMTP_URL is not set (development): mail to %s, %r:\n%s",
            recipient,
            message["Subject"],
            message.get_content(),
        )

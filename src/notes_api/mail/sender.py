"""The background sender: a task in every server process that drains the outbox.

Each process runs one; they share the work through the outbox's claims, so
any number of workers and instances send every mail once. The sender polls
(a mail queued by another process waits at most `POLL_INTERVAL`) and is woken
at once by a request of its own process that queued one. Nothing it holds is
needed by another process: a restart loses nothing, the rows are the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notes_api.email_address import is_plain_address
from notes_api.mail import outbox
from notes_api.mail.outbox import ClaimedMail
from notes_api.mail.transport import PermanentFailure, Transport

POLL_INTERVAL_SECONDS = 1.0
BATCH = 10
STOP_GRACE_SECONDS = 5.0
"""At shutdown, how long the mail being sent may take to finish (and be marked sent)."""
BAD_ADDRESS = "bad_address"
"""The outcome of a mail whose recipient is not one plain address: discarded, never sent."""

logger = logging.getLogger("notes_api.mail")


@dataclass(frozen=True)
class Prepared:
    """A mail ready to go to its one recipient, and what to record in the database once the
    server accepted it (in the transaction that marks it sent)."""

    message: EmailMessage
    recipient: str
    """The envelope's only recipient. Never read back from the message's `To:` header,
    which a parser may read as several addresses."""
    after_sent: Callable[[AsyncSession], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Discard:
    """Nothing to send (no such account, throttled, an address that cannot be mailed)."""

    outcome: str


Renderer = Callable[[AsyncSession, Mapping[str, Any]], Awaitable[Prepared | Discard]]


@dataclass
class _Run:
    wake: asyncio.Event
    task: asyncio.Task[None] | None = None
    stopping: bool = False


class MailSender:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        transport: Transport,
        renderers: Mapping[str, Renderer],
    ) -> None:
        self.session_factory = session_factory
        self.transport = transport
        self.renderers = dict(renderers)
        self._runs: dict[asyncio.AbstractEventLoop, _Run] = {}
        """One run per event loop: a server process has one; test clients of one app, several."""
        self.untraced: Callable[[], AbstractContextManager[object]] = nullcontext
        """Set by `create_app` when tracing is on: the outbox polls, once a second in every
        process and nearly always finding nothing, would otherwise fill the traces."""

    def wake(self) -> None:
        """Look at the outbox now (called after a request committed a mail)."""
        run = self._runs.get(asyncio.get_running_loop())
        if run is not None:
            run.wake.set()

    def start(self) -> None:
        run = _Run(asyncio.Event())
        run.task = asyncio.create_task(self._run(run), name="mail-sender")
        self._runs[asyncio.get_running_loop()] = run

    async def stop(self) -> None:
        """Let the mail in flight finish (a mail sent but not marked would be sent again by
        the next process), then stop; past the grace period, cancel."""
        run = self._runs.pop(asyncio.get_running_loop(), None)
        if run is None or run.task is None:
            return
        run.stopping = True
        run.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(run.task), STOP_GRACE_SECONDS)
        except TimeoutError:
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task

    async def _run(self, run: _Run) -> None:
        while not run.stopping:
            try:
                busy = await self.send_due(run)
            except Exception as exc:  # the database is down, say: try again later
                logger.warning("mail sender: cannot read the outbox (%s)", type(exc).__name__)
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.wake.wait(), POLL_INTERVAL_SECONDS)
                run.wake.clear()

    async def send_due(self, run: _Run | None = None) -> bool:
        """Send one batch of due mails; True if there was any (there may be more)."""
        with self.untraced():
            async with self.session_factory() as db:
                claimed = await outbox.claim_due(db, BATCH)
        for mail in claimed:
            # Stopping: the rest would wait for its claim to expire; released now instead.
            if run is not None and run.stopping:
                async with self.session_factory() as db:
                    await outbox.release(db, mail)
                continue
            await self._send_one(mail)
        return bool(claimed)

    async def _send_one(self, mail: ClaimedMail) -> None:
        async with self.session_factory() as db:
            renderer = self.renderers.get(mail.kind)
            try:
                prepared = (
                    Discard("unknown_kind")
                    if renderer is None
                    else await renderer(db, mail.payload)
                )
                if isinstance(prepared, Prepared) and not is_plain_address(prepared.recipient):
                    # Whatever the renderer checked, a recipient that is not one plain
                    # address never leaves, and nothing rendered for it is kept.
                    await db.rollback()
                    prepared = Discard(BAD_ADDRESS)
                    logger.warning("mail %d not sent: its recipient is not one address", mail.id)
                await db.commit()  # what rendering wrote must exist before the mail leaves
                if isinstance(prepared, Prepared):
                    await self.transport.deliver(prepared.message, prepared.recipient)
            except PermanentFailure as exc:
                prepared = Discard(str(exc).replace(" ", "_"))
                logger.warning("mail %d not sent, for good: %s", mail.id, exc)
            except (OSError, smtplib.SMTPException) as exc:
                # Down, refusing, timing out: the mail waits. Never the message in the log.
                logger.warning(
                    "mail %d not sent (attempt %d): %s", mail.id, mail.attempts, _why(exc)
                )
                await db.rollback()
                await outbox.postpone(db, mail, _why(exc))
                return
            except Exception as exc:  # the database failed mid-way: retry like a send failure
                logger.warning("mail %d not sent: %s", mail.id, type(exc).__name__)
                with contextlib.suppress(Exception):
                    await db.rollback()
                    await outbox.postpone(db, mail, type(exc).__name__)
                return
            if isinstance(prepared, Prepared) and prepared.after_sent is not None:
                await prepared.after_sent(db)
            sent = isinstance(prepared, Prepared)
            outcome = "sent" if sent else prepared.outcome  # type: ignore[union-attr]
            if await outbox.finish(db, mail, sent=sent, outcome=outcome):
                await db.commit()
            else:
                logger.warning("mail %d: claim lost while sending", mail.id)
                await db.rollback()


def _why(exc: BaseException) -> str:
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__

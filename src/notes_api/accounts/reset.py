"""Password reset by mail: the request, the mail, and the reset itself.

`request_reset` does the same work whether or not the account exists: it
counts and records the request for throttling and queues a mail row naming
what was asked for, in one transaction. It never looks the account up, so
neither its answer nor its timing can depend on it. The sender resolves the
account when it sends (`reset_mail_renderer`): it makes the token then, so no
usable token ever rests in the outbox, and stores its digest only once the
SMTP server accepted the mail, in the transaction that marks the mail sent.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notes_api.accounts.models import PasswordResetRequest, PasswordResetToken
from notes_api.actor import Actor
from notes_api.audit.service import AuditAction, record
from notes_api.clock import as_utc, utcnow
from notes_api.config import Settings
from notes_api.email_address import is_plain_address
from notes_api.mail import outbox
from notes_api.mail.sender import BAD_ADDRESS, Discard, MailSender, Prepared, Renderer
from notes_api.mail.transport import LogTransport, SmtpTransport, Transport
from notes_api.smtp_url import parse_smtp_url
from notes_api.throttling.throttle import address_key
from notes_api.users.models import User

MAIL_KIND = "password_reset"
TOKEN_BYTES = 32  # 256 bits
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
WINDOW = timedelta(minutes=15)
MAX_PER_ADDRESS = 20
"""Requests one client address may make per window (429 past it)."""
MAX_PER_SUBJECT = 5
"""Requests naming one email or username per window (429 past it, whether or not it exists)."""
MAX_MAILS_PER_ACCOUNT = 3
"""Reset mails one account receives per window; further requests are dropped silently
(answering 429 here would tell that the account exists)."""

logger = logging.getLogger("notes_api.mail")


class ResetThrottledError(Exception):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


def hash_reset_token(token: str) -> str:
    """SHA-256: the token has 256 random bits, so a fast digest gives nothing away."""
    return hashlib.sha256(token.encode()).hexdigest()


async def request_reset(
    db: AsyncSession, *, email: str | None, username: str | None, client_ip: str | None
) -> None:
    """Record the request and queue its mail (committed), or raise `ResetThrottledError`."""
    now = utcnow()
    address = address_key(client_ip)
    subject = f"email:{email}" if email is not None else f"username:{username}"
    await db.execute(
        delete(PasswordResetRequest).where(PasswordResetRequest.requested_at <= now - WINDOW)
    )
    for column, value, limit in (
        (PasswordResetRequest.client_ip, address, MAX_PER_ADDRESS),
        (PasswordResetRequest.subject, subject, MAX_PER_SUBJECT),
    ):
        count, oldest = (
            await db.execute(
                select(func.count(), func.min(PasswordResetRequest.requested_at)).where(
                    column == value, PasswordResetRequest.requested_at > now - WINDOW
                )
            )
        ).one()
        if count >= limit and oldest is not None:
            await db.rollback()
            wait = (as_utc(oldest) + WINDOW - now).total_seconds()
            raise ResetThrottledError(max(1, math.ceil(wait)))
    await db.execute(
        insert(PasswordResetRequest).values(client_ip=address, subject=subject, requested_at=now)
    )
    outbox.enqueue(db, MAIL_KIND, {"email": email} if email is not None else {"username": username})
    await db.commit()


@dataclass(frozen=True)
class ResetMailSettings:
    public_url: str
    mail_from: str
    lifetime: timedelta


def reset_mail_renderer(config: ResetMailSettings) -> Renderer:
    async def render(db: AsyncSession, payload: Mapping[str, Any]) -> Prepared | Discard:
        query = select(User)
        if isinstance(payload.get("email"), str):
            query = query.where(User.email == payload["email"])
        elif isinstance(payload.get("username"), str):
            query = query.where(User.username == payload["username"])
        else:
            return Discard("bad_payload")
        user = await db.scalar(query)
        if user is None or user.disabled or not user.email:
            return Discard("no_account")
        if not is_plain_address(user.email):  # written in plain SQL, say
            # The user's id, not the address: the operator can find and fix the row.
            logger.warning("reset mail to user %d not sent: bad stored address", user.id)
            return Discard(BAD_ADDRESS)
        now = utcnow()
        recent = await db.scalar(
            select(func.count()).where(
                PasswordResetToken.user_id == user.id, PasswordResetToken.mailed_at > now - WINDOW
            )
        )
        if (recent or 0) >= MAX_MAILS_PER_ACCOUNT:
            return Discard("throttled")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        message = _reset_message(config, user.email, user.username, token)
        token_row = PasswordResetToken(
            user_id=user.id,
            token_hash=hash_reset_token(token),
            created_at=now,
            expires_at=now + config.lifetime,
        )
        db.add(token_row)
        await db.flush()
        token_id, user_id, username = token_row.id, user.id, user.username

        async def after_sent(db: AsyncSession) -> None:
            sent_at = utcnow()
            await void_tokens(db, user_id, sent_at, keep=token_id)
            await db.execute(
                update(PasswordResetToken)
                .where(PasswordResetToken.id == token_id)
                .values(mailed_at=sent_at)
            )
            record(db, AuditAction.PASSWORD_RESET_MAILED, Actor(None, None), target=username)

        return Prepared(message, user.email, after_sent)

    return render


def _reset_message(config: ResetMailSettings, to: str, username: str, token: str) -> EmailMessage:
    minutes = int(config.lifetime.total_seconds() // 60)
    link = f"{config.public_url}/#/reset-password?token={token}"
    message = EmailMessage(policy=SMTP)
    message["From"] = config.mail_from
    message["To"] = to
    message["Subject"] = "Reset your notes-api password"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="notes-api")
    message.set_content(
        f"Someone asked to reset the password of the notes-api account {username}.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n"
        "The link works once. If you did not ask for it, ignore this mail: "
        "your password stays as it is.\n"
    )
    return message


async def void_tokens(
    db: AsyncSession, user_id: int, now: datetime, *, keep: int | None = None
) -> None:
    """Void the user's usable tokens (but `keep`): a newer link, or a reset, replaces them."""
    query = update(PasswordResetToken).where(
        PasswordResetToken.user_id == user_id,
        PasswordResetToken.used_at.is_(None),
        PasswordResetToken.voided_at.is_(None),
    )
    if keep is not None:
        query = query.where(PasswordResetToken.id != keep)
    await db.execute(query.values(voided_at=now))


def usable(digest: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a token that can still reset a password."""
    return (
        PasswordResetToken.token_hash == digest,
        PasswordResetToken.used_at.is_(None),
        PasswordResetToken.voided_at.is_(None),
        PasswordResetToken.expires_at > now,
    )


def build_mail_sender(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> MailSender | None:
    transport: Transport
    if settings.smtp_url is not None:
        transport = SmtpTransport(parse_smtp_url(settings.smtp_url.get_secret_value()))
    elif settings.app_env == "development":
        transport = LogTransport()
    else:
        return None
    reset_mail = ResetMailSettings(
        public_url=settings.public_url,
        mail_from=settings.mail_from,
        lifetime=timedelta(minutes=settings.password_reset_expire_minutes),
    )
    return MailSender(session_factory, transport, {MAIL_KIND: reset_mail_renderer(reset_mail)})

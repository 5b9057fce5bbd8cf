"""`SMTP_URL`: which SMTP server mail goes to, how the connection is secured, who logs in.

`smtp://host:port` is plain SMTP (a local relay or Mailpit), `smtp+starttls://`
upgrades the connection with STARTTLS before anything is sent (port 587 by
default) and `smtps://` speaks TLS from the first byte (port 465). With TLS the
server's certificate is verified against the system's trust store (or
`SSL_CERT_FILE`, for a private CA). User and password are percent-decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

Security = Literal["plain", "starttls", "tls"]
SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpTarget:
    """Raise `ValueError` naming what is wrong; the message never repeats the URL (it may
    hold a password)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError("SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
    security, default_port = SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError("SMTP_URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("SMTP_URL needs a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("SMTP_URL takes no path, query or fragment")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise ValueError("SMTP_URL has a password without a user")
    return SmtpTarget(parts.hostname, port, security, username, password)

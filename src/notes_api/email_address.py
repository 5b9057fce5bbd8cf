"""What notes-api takes for an email address: one plain `local@domain`, nothing more.

An address ends up in a `To:` header, and smtplib picks the envelope's
recipients by parsing that header, where many characters mean something:
`,` separates addresses (`victim,attacker@evil.example` is two), `:` and `;`
open and close a group (`victim:attacker@evil.example` is attacker's address in
a group named victim), `<>`, `"` and `()` bring in display names, quoted local
parts and comments, and `=?charset?q?...?=` is an RFC 2047 encoded word that a
parser decodes into any of those. Each of these sent mail to someone else.

So an address here is a local part and a dotted domain around exactly one `@`,
made of printable characters other than the RFC 5322 specials and whitespace,
never holding `=?`. Non-ASCII letters stay allowed (RFC 6531 addresses). Both
the input schemas and the mail sender ask `is_plain_address`: an address
written into the database by other means is checked again before it is used.
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 254
"""RFC 5321: a path is at most 256 characters including its angle brackets."""
MAX_LOCAL_PART_LENGTH = 64
"""RFC 5321 section 4.5.3.1.1."""
_SPECIALS_IN_ORDER = '()<>[]:;@\\,"'
"""RFC 5322's specials but the dot, which separates the domain's labels."""
_SPECIALS = frozenset(_SPECIALS_IN_ORDER)
_UNPRINTABLE_CATEGORIES = frozenset("CZ")
"""Unicode controls, format characters, surrogates, unassigned and private-use code points
(C*), and every kind of space and line or paragraph separator (Z*)."""


_NOT_IN_AN_ADDRESS = (
    "\\x00-\\x20\\x7f-\\x9f"  # ASCII and C1 controls, the space
    "\\u00a0\\u1680\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u3000\\ufeff"  # spaces, marks
    # The specials, from the one list `is_plain_address` reads, escaped where a class needs it.
    + "".join(f"\\{char}" if char in "[]\\" else char for char in _SPECIALS_IN_ORDER)
)
SCHEMA_PATTERN = (
    f"^[^{_NOT_IN_AN_ADDRESS}]{{1,{MAX_LOCAL_PART_LENGTH}}}"
    f"@[^{_NOT_IN_AN_ADDRESS}.]+(\\.[^{_NOT_IN_AN_ADDRESS}.]+)+$"
)
"""`is_plain_address` for clients, in the OpenAPI document: every address it accepts matches.
A regular expression cannot name Unicode's categories, so this one refuses the controls,
the common spaces and format characters, and the specials; the server refuses the rest."""


def is_plain_address(value: str) -> bool:
    """Whether `value` is one plain address that no header parser reads as anything else."""
    if len(value) > MAX_LENGTH or "=?" in value:
        return False
    local, _, domain = value.partition("@")
    if not 1 <= len(local) <= MAX_LOCAL_PART_LENGTH:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        return False
    return not any(
        char in _SPECIALS or unicodedata.category(char)[0] in _UNPRINTABLE_CATEGORIES
        for char in value.replace("@", "", 1)
    )

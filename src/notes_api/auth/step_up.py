"""Step-up (RFC 9470): roles that count only for a login completed with a second factor.

`MFA_REQUIRED_ROLES` names them. A token without `otp` in its `amr` keeps
them out of `TokenData.roles` (they go to `withheld_roles`), so every role
check, `@authorize` or a route's own `admin in token.roles`, sees a
password-only login as if it lacked them; `@authorize` then answers 401
`insufficient_user_authentication` instead of 403 when a withheld role is
what the caller lacks, so the client knows that logging in again with the
second factor would help.
"""

from __future__ import annotations

from collections.abc import Collection

from notes_api.auth.tokens import TokenData

SECOND_FACTOR_METHOD = "otp"


def apply_step_up(token: TokenData, mfa_required_roles: Collection[str]) -> TokenData:
    if not mfa_required_roles or SECOND_FACTOR_METHOD in token.amr:
        return token
    withheld = [role for role in token.roles if role in mfa_required_roles]
    if not withheld:
        return token
    kept = [role for role in token.roles if role not in mfa_required_roles]
    return token.model_copy(update={"roles": kept, "withheld_roles": withheld})

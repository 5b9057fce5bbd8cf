"""Every table, imported in one place so `Base.metadata` is complete for Alembic and tests."""

from notes_api.accounts.models import PasswordResetRequest, PasswordResetToken
from notes_api.audit.models import AuditEvent
from notes_api.database import Base
from notes_api.mail.models import OutboxMail
from notes_api.mfa.models import MfaChallenge, RecoveryCode, TotpCredential
from notes_api.notes.models import Note
from notes_api.personal_tokens.models import PersonalAccessToken
from notes_api.sessions.models import RefreshToken, UserDeletion
from notes_api.sessions.session_model import LoginSession
from notes_api.throttling.models import LoginAttempt
from notes_api.users.models import Role, User, user_roles
from notes_api.users.signup_attempts import SignupAttempt

__all__ = [
    "AuditEvent",
    "Base",
    "LoginAttempt",
    "LoginSession",
    "MfaChallenge",
    "Note",
    "OutboxMail",
    "PasswordResetRequest",
    "PasswordResetToken",
    "PersonalAccessToken",
    "RecoveryCode",
    "RefreshToken",
    "Role",
    "SignupAttempt",
    "TotpCredential",
    "User",
    "UserDeletion",
    "user_roles",
]

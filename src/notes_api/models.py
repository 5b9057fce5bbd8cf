"""Every table, imported in one place so `Base.metadata` is complete for Alembic and tests."""

from notes_api.audit.models import AuditEvent
from notes_api.database import Base
from notes_api.notes.models import Note
from notes_api.sessions.models import RefreshToken
from notes_api.sessions.session_model import LoginSession
from notes_api.users.models import Role, User, user_roles

__all__ = [
    "AuditEvent",
    "Base",
    "LoginSession",
    "Note",
    "RefreshToken",
    "Role",
    "User",
    "user_roles",
]

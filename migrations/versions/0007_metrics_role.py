"""The built-in `metrics` role: who may read GET /metrics (Prometheus's credential).

A role of that name that an administrator already created is kept, grants
included: it becomes the built-in one. The downgrade removes the role and its
grants.

Revision ID: 0007_metrics_role
Revises: 0006_sessions
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_metrics_role"
down_revision: str | None = "0006_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "metrics"
DESCRIPTION = "Reads GET /metrics (Prometheus)"


def upgrade() -> None:
    bind = op.get_bind()
    roles = sa.table("roles", sa.column("name", sa.String), sa.column("description", sa.String))
    if bind.scalar(sa.select(roles.c.name).where(roles.c.name == NAME)) is None:
        bind.execute(roles.insert().values(name=NAME, description=DESCRIPTION))


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "DELETE FROM user_roles WHERE role_id IN (SELECT id FROM roles WHERE name = :name)"
        ),
        {"name": NAME},
    )
    bind.execute(sa.text("DELETE FROM roles WHERE name = :name"), {"name": NAME})

"""Site samples: the live loop's estimate of every site's state, for the dashboard.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``site_samples``."""
    op.create_table(
        "site_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("devices", sa.Integer, nullable=False),
        sa.Column("up", sa.Integer, nullable=False),
        sa.Column("allocated", sa.Integer, nullable=False),
        sa.Column("busy", sa.Integer, nullable=False),
        sa.Column("power_mw", sa.Float, nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("cost_per_h", sa.Float, nullable=False),
        sa.Column("carbon", sa.Float, nullable=False),
    )
    op.create_index("ix_site_samples_at", "site_samples", ["at"])


def downgrade() -> None:
    """Drop ``site_samples``."""
    op.drop_table("site_samples")

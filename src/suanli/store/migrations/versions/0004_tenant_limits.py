"""Per-tenant limits, and an index for counting a tenant's jobs in one state.

``tenants.max_queued`` (most jobs the tenant may have queued at once) and
``tenants.submit_rate`` (sustained submissions per second) are new and nullable: ``NULL``
means the server's default (``suanli serve``'s settings; docs/serve.md). The index
``ix_jobs_tenant_state`` makes the queued-jobs check of every submission cheap.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the two columns (``NULL``: the default) and the index."""
    with op.batch_alter_table("tenants") as b:
        b.add_column(sa.Column("max_queued", sa.Integer, nullable=True))
        b.add_column(sa.Column("submit_rate", sa.Float, nullable=True))
    op.create_index("ix_jobs_tenant_state", "jobs", ["tenant_id", "state"])


def downgrade() -> None:
    """Drop them (limits set per tenant are lost)."""
    op.drop_index("ix_jobs_tenant_state", table_name="jobs")
    with op.batch_alter_table("tenants") as b:
        b.drop_column("submit_rate")
        b.drop_column("max_queued")

"""Online inference services in the live control plane.

``services`` holds the services the control plane runs: the scenario's (``origin``
``scenario``, ``spec`` NULL) and those created over the API (``spec``: the service as a
scenario file's ``services:`` entry has it), with what the API set on top — the demand
per user region (``demand_rps``) and replica bounds. A deleted service keeps its row
(``deleted_at``). ``jobs.service_id`` marks a job as a replica of a service;
``service_samples`` keeps, per service and serving tick, demand, capacity, replicas and
SLO attainment for the dashboard.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``services`` and ``service_samples``; add ``jobs.service_id``."""
    op.create_table(
        "services",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=True),
        sa.Column("demand_rps", sa.JSON, nullable=True),
        sa.Column("min_replicas", sa.Integer, nullable=True),
        sa.Column("max_replicas", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("deleted_at", sa.Float, nullable=True),
    )
    op.create_table(
        "service_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("demand_rps", sa.Float, nullable=False),
        sa.Column("capacity_rps", sa.Float, nullable=False),
        sa.Column("ready", sa.Integer, nullable=False),
        sa.Column("starting", sa.Integer, nullable=False),
        sa.Column("devices", sa.Integer, nullable=False),
        sa.Column("attainment", sa.Float, nullable=False),
        sa.Column("tokens_per_s", sa.Float, nullable=False),
    )
    op.create_index("ix_service_samples_at", "service_samples", ["at"])
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("service_id", sa.String(64), nullable=True))
    op.create_index("ix_jobs_service_state", "jobs", ["service_id", "state"])


def downgrade() -> None:
    """Drop them (services and their samples are lost; replicas become plain jobs)."""
    op.drop_index("ix_jobs_service_state", table_name="jobs")
    with op.batch_alter_table("jobs") as b:
        b.drop_column("service_id")
    op.drop_table("service_samples")
    op.drop_table("services")

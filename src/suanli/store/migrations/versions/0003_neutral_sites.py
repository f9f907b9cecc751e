"""Backend-neutral sites, and the scheduling progress of each job.

``jobs.slurm_job_id`` (an integer) becomes ``jobs.external_id`` (the site's id for the job,
a string: a Slurm job id, a Ray job id, a Kubernetes name), ``jobs.slurm_state`` becomes
``jobs.site_state`` (the backend's own state name) and ``dispatches.slurm_job_id``
``dispatches.external_id``; existing values are kept (as text). New: ``jobs.preemptions``,
``jobs.progress_pflop`` and ``jobs.attained_s`` — what the scheduling core knows of a
job's past runs, so that a restarted control plane hands policies the same view.
SQLite drops a column by rebuilding the table, which :func:`suanli.store.migrate.upgrade`
runs with foreign keys off (and checked before the commit).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the new columns, copy the old ones over as text, drop the old ones."""
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("external_id", sa.String(128), nullable=True))
        b.add_column(sa.Column("site_state", sa.String(32), nullable=True))
        b.add_column(sa.Column("preemptions", sa.Integer, nullable=False, server_default="0"))
        b.add_column(sa.Column("progress_pflop", sa.Float, nullable=False, server_default="0"))
        b.add_column(sa.Column("attained_s", sa.Float, nullable=False, server_default="0"))
    with op.batch_alter_table("dispatches") as b:
        b.add_column(sa.Column("external_id", sa.String(128), nullable=True))
    op.execute(
        "UPDATE jobs SET external_id = CAST(slurm_job_id AS VARCHAR(128)), site_state = slurm_state"
    )
    op.execute("UPDATE dispatches SET external_id = CAST(slurm_job_id AS VARCHAR(128))")
    with op.batch_alter_table("jobs") as b:
        b.drop_column("slurm_job_id")
        b.drop_column("slurm_state")
    with op.batch_alter_table("dispatches") as b:
        b.drop_column("slurm_job_id")


def downgrade() -> None:
    """Back to integer Slurm ids (ids that are not integers are lost)."""
    with op.batch_alter_table("jobs") as b:
        b.add_column(sa.Column("slurm_job_id", sa.BigInteger, nullable=True))
        b.add_column(sa.Column("slurm_state", sa.String(32), nullable=True))
    with op.batch_alter_table("dispatches") as b:
        b.add_column(sa.Column("slurm_job_id", sa.BigInteger, nullable=True))
    for table in ("jobs", "dispatches"):
        rows = op.get_bind().execute(
            sa.text(f"SELECT id, external_id FROM {table} WHERE external_id IS NOT NULL")
        )
        for row_id, ext in rows.all():
            if str(ext).isdigit():
                op.execute(
                    sa.text(f"UPDATE {table} SET slurm_job_id = :v WHERE id = :i").bindparams(
                        v=int(ext), i=row_id
                    )
                )
    op.execute("UPDATE jobs SET slurm_state = site_state")
    with op.batch_alter_table("jobs") as b:
        for c in ("external_id", "site_state", "preemptions", "progress_pflop", "attained_s"):
            b.drop_column(c)
    with op.batch_alter_table("dispatches") as b:
        b.drop_column("external_id")

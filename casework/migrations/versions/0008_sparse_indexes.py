"""Indexes of only the rows that fill the column in, for columns most rows leave empty
(a case's meeting, parent case and deviation cluster; a message's event key, member and
meeting), and no index on cases (status) beside the one on (status, created_at).

A submission wrote an index entry for each of them, NULL or not: six pages a commit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPARSE = {
    "cases": ("meeting_id", "parent_case_id", "deviation_cluster_id"),
    "notifications": ("event_key", "member_id", "meeting_id"),
}


def upgrade() -> None:
    op.drop_index("ix_cases_status", table_name="cases")
    for table, columns in SPARSE.items():
        for column in columns:
            name = f"ix_{table}_{column}"
            present = sa.text(f"{column} IS NOT NULL")
            op.drop_index(name, table_name=table)
            op.create_index(name, table, [column], sqlite_where=present, postgresql_where=present)


def downgrade() -> None:
    for table, columns in SPARSE.items():
        for column in columns:
            name = f"ix_{table}_{column}"
            op.drop_index(name, table_name=table)
            op.create_index(name, table, [column])
    op.create_index("ix_cases_status", "cases", ["status"])

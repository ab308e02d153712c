"""Indexes that no query used go: a message's kind and an audit event's time. The drain's
query (pending messages due by now, oldest first) and the counts by status use one index
on messages (status, not_before) instead of one on each column.

A submission wrote an entry to each of them: three pages a commit.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {
    "ix_notifications_kind": ("notifications", "kind"),
    "ix_notifications_status": ("notifications", "status"),
    "ix_notifications_not_before": ("notifications", "not_before"),
    "ix_audit_events_at": ("audit_events", "at"),
}


def upgrade() -> None:
    for name, (table, _column) in DROPPED.items():
        op.drop_index(name, table_name=table)
    op.create_index(
        "ix_notifications_status_not_before", "notifications", ["status", "not_before"]
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_status_not_before", table_name="notifications")
    for name, (table, column) in DROPPED.items():
        op.create_index(name, table, [column])

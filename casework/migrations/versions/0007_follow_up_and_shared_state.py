"""Follow-up and escalation (linked cases, organisations' answers, deviations and their
clusters), and rate windows shared by every web process.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_windows',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_start', name=op.f('pk_rate_windows'))
    )
    op.create_table('deviation_clusters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handed_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_deviation_clusters_group_id_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deviation_clusters'))
    )
    with op.batch_alter_table('deviation_clusters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deviation_clusters_group_id'), ['group_id'], unique=False)

    op.create_table('organisation_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Enum('position', 'backing', name='requestpurpose', native_enum=False, length=32), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('response', sa.Enum('pending', 'backs', 'does_not_back', 'comment', name='requestresponse', native_enum=False, length=32), nullable=False),
    sa.Column('comment', sa.String(), nullable=False),
    sa.Column('responded_by', sa.String(length=200), nullable=False),
    sa.Column('responded_member_id', sa.Integer(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_organisation_requests_case_id_cases')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_organisation_requests_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['responded_member_id'], ['members.id'], name=op.f('fk_organisation_requests_responded_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_requests')),
    sa.UniqueConstraint('case_id', 'organisation_id', 'purpose', name=op.f('uq_organisation_requests_case_id_organisation_id_purpose'))
    )
    with op.batch_alter_table('organisation_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_requests_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisation_requests_due_date'), ['due_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisation_requests_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisation_requests_response'), ['response'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_case_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('deviation_kind', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('deviation_place', sa.String(length=300), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('deviation_organisations', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('deviation_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('deviation_cluster_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_deviation_cluster_id'), ['deviation_cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_parent_case_id'), ['parent_case_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_cases_deviation_cluster_id_deviation_clusters'), 'deviation_clusters', ['deviation_cluster_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_cases_parent_case_id_cases'), 'cases', ['parent_case_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_parent_case_id_cases'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cases_deviation_cluster_id_deviation_clusters'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_cases_parent_case_id'))
        batch_op.drop_index(batch_op.f('ix_cases_deviation_cluster_id'))
        batch_op.drop_column('deviation_cluster_id')
        batch_op.drop_column('deviation_date')
        batch_op.drop_column('deviation_organisations')
        batch_op.drop_column('deviation_place')
        batch_op.drop_column('deviation_kind')
        batch_op.drop_column('parent_case_id')

    with op.batch_alter_table('organisation_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_requests_response'))
        batch_op.drop_index(batch_op.f('ix_organisation_requests_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_organisation_requests_due_date'))
        batch_op.drop_index(batch_op.f('ix_organisation_requests_case_id'))

    op.drop_table('organisation_requests')
    with op.batch_alter_table('deviation_clusters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deviation_clusters_group_id'))

    op.drop_table('deviation_clusters')
    op.drop_table('rate_windows')

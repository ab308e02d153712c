"""Who gets which message: a group's members, its chair and secretary, beredningsgruppen.

Members come from the group's memberships (with the member's e-mail address); chairs
and secretaries also from the staff accounts that hold that role for the group. Each
function answers for many groups in one query, so that a sweep over a thousand meetings
asks the database a handful of times, not a thousand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable

from sqlmodel import Session, col, select

from casework.model import Group, Member, Membership, Role, StaffRole, User, UserRole
from casework.outbox import Recipient, member_recipients

BEREDNINGSGRUPPEN = "beredningsgruppen"


def _user_recipient(user: User) -> Recipient:
    return Recipient(user.name or user.email, user.email)


def group_members(
    session: Session, group_ids: Collection[int], roles: Collection[Role] | None = None
) -> dict[int, list[Recipient]]:
    """Per group: its members (all roles, or only `roles`) at each of their addresses."""
    found: dict[int, list[Recipient]] = defaultdict(list)
    if not group_ids:
        return found
    statement = (
        select(Membership.group_id, Member)
        .join(Member, col(Member.id) == col(Membership.member_id))
        .where(col(Membership.group_id).in_(sorted(group_ids)))
        .order_by(col(Membership.id))
    )
    if roles is not None:
        statement = statement.where(col(Membership.role).in_(sorted(roles)))
    for group_id, member in session.exec(statement).all():
        found[group_id].extend(member_recipients(member))
    return found


def _staff_by_group(
    session: Session, group_ids: Collection[int], roles: Collection[StaffRole]
) -> dict[int, list[Recipient]]:
    found: dict[int, list[Recipient]] = defaultdict(list)
    if not group_ids:
        return found
    statement = (
        select(Group.id, User)
        .join(UserRole, col(UserRole.group_slug) == col(Group.slug))
        .join(User, col(User.id) == col(UserRole.user_id))
        .where(
            col(Group.id).in_(sorted(group_ids)),
            col(UserRole.role).in_(sorted(roles)),
            col(User.active).is_(True),
        )
        .order_by(col(UserRole.id))
    )
    for group_id, user in session.exec(statement).all():
        assert group_id is not None
        found[group_id].append(_user_recipient(user))
    return found


def _merge(*sources: dict[int, list[Recipient]]) -> dict[int, list[Recipient]]:
    merged: dict[int, list[Recipient]] = defaultdict(list)
    for source in sources:
        for group_id, recipients in source.items():
            merged[group_id].extend(recipients)
    return merged


def group_officers(
    session: Session, group_ids: Collection[int], roles: Collection[Role]
) -> dict[int, list[Recipient]]:
    """Per group: the members seated as one of `roles` (chair, secretary) and the staff
    users who hold the same role for the group."""
    staff_roles = [StaffRole(role.value) for role in roles]
    return _merge(
        group_members(session, group_ids, roles),
        _staff_by_group(session, group_ids, staff_roles),
    )


def secretaries(session: Session, group_ids: Collection[int]) -> dict[int, list[Recipient]]:
    """Per group: its secretaries (seated members and staff users)."""
    return group_officers(session, group_ids, [Role.secretary])


def chairs_and_secretaries(
    session: Session, group_ids: Collection[int]
) -> dict[int, list[Recipient]]:
    """Per group: its chairs and secretaries (seated members and staff users)."""
    return group_officers(session, group_ids, [Role.chair, Role.secretary])


def _beredningsgruppen_id(session: Session) -> int | None:
    return session.exec(select(Group.id).where(Group.slug == BEREDNINGSGRUPPEN)).first()


def beredning(session: Session) -> list[Recipient]:
    """Beredningsgruppen: the staff users who triage, and the group's seated members."""
    statement = (
        select(User)
        .join(UserRole, col(UserRole.user_id) == col(User.id))
        .where(UserRole.role == StaffRole.beredning, col(User.active).is_(True))
        .order_by(col(User.id))
    )
    found = [_user_recipient(user) for user in session.exec(statement).unique().all()]
    group_id = _beredningsgruppen_id(session)
    if group_id is not None:
        found.extend(group_members(session, [group_id]).get(group_id, []))
    return found


def beredning_chair(session: Session) -> list[Recipient]:
    """The chair of beredningsgruppen (the seated chair and any staff user in that role)."""
    group_id = _beredningsgruppen_id(session)
    if group_id is None:
        return []
    return group_officers(session, [group_id], [Role.chair]).get(group_id, [])


def members_named(session: Session, names: Iterable[str]) -> dict[str, Recipient]:
    """Members with an e-mail address whose name is one of `names`, by stripped name.

    A presenter is free text on the case; it names someone we can write to only when it
    is exactly a member's name.
    """
    wanted = sorted({name.strip() for name in names if name.strip()})
    if not wanted:
        return {}
    statement = select(Member).where(col(Member.name).in_(wanted)).order_by(col(Member.id))
    found: dict[str, Recipient] = {}
    for member in session.exec(statement).all():
        addresses = member_recipients(member)
        if addresses:
            found.setdefault(member.name.strip(), addresses[0])
    return found

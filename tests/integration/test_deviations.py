"""Deviations: routing by rule 5, clusters, the hand-over to LSVO and the statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

import rules
from casework import deviations, repository
from casework.accounts import Identity
from casework.db import unit_of_work
from casework.deviations import DeviationCreate
from casework.model import AuditEvent, Case, DeviationCluster, Notification, StaffRole

RULES = rules.load_rules()
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
SECRETARY = Identity(1, "sekr.aldre@example.se", "Sekreterare Äldre",
                     frozenset({(StaffRole.secretary, "sg-aldre")}))  # fmt: skip
OTHER_SECRETARY = Identity(2, "sekr.vuxna@example.se", "Sekreterare Vuxna",
                           frozenset({(StaffRole.secretary, "sg-vuxna")}))  # fmt: skip


def report(engine: Engine, **changes: Any) -> Case:
    data: dict[str, Any] = {
        "description": "Läkemedelslistan följde inte med vid utskrivningen till hemsjukvården.",
        "place": "Medicinkliniken, Karlskrona",
        "organisations": ["region-blekinge", "karlskrona"],
        "occurred_on": "2026-02-10",
        "kind": "lakemedel",
        "target_group": "aldre",
        "recurring": False,
        "submitter_name": "Anna Andersson",
        "submitter_email": "anna@example.se",
    }
    data.update(changes)
    submitted = deviations.submit_deviation(
        engine, DeviationCreate.model_validate(data), actor="anna", rules=RULES, now=NOW
    )
    return submitted.case


def audit_actions(engine: Engine, case_id: int) -> list[str]:
    with unit_of_work(engine, write=False) as session:
        return [e.action for e in repository.list_audit_events(session, case_id=case_id)]


def test_a_deviation_goes_to_the_samverkansgrupp_of_its_target_group(
    seeded_engine: Engine,
) -> None:
    aldre = report(seeded_engine)
    barn = report(seeded_engine, target_group="barn_unga", kind="sip")
    assert (aldre.destination, aldre.routing_rule) == ("sg-aldre", "avvikelse-aldre")
    assert (barn.destination, barn.routing_rule) == ("sg-barn-unga", "avvikelse-barn-unga")
    with unit_of_work(seeded_engine, write=False) as session:
        stored = repository.get_case(session, case_id=aldre.id or 0)
        assert stored is not None
        assert stored.deviation and not stored.recurring
        assert stored.deviation_kind == "lakemedel"
        assert stored.deviation_place == "Medicinkliniken, Karlskrona"
        assert stored.deviation_organisations == ["region-blekinge", "karlskrona"]
        assert stored.deviation_date == date(2026, 2, 10)
        [receipt] = session.exec(select(Notification).where(Notification.case_id == aldre.id)).all()
    assert receipt.kind == "case_received"
    assert receipt.recipient_address == "anna@example.se"
    assert audit_actions(seeded_engine, aldre.id or 0) == ["submit"]


def test_a_general_or_recurring_deviation_goes_to_lsvo(seeded_engine: Engine) -> None:
    case = report(seeded_engine, recurring=True, target_group="vuxna")
    assert (case.destination, case.routing_rule) == ("lsvo", "avvikelse-generell")
    assert case.recurring and case.deviation


def test_a_deviation_cannot_have_happened_in_the_future() -> None:
    with pytest.raises(ValueError, match="future"):
        DeviationCreate.model_validate(
            {"description": "x", "place": "y", "organisations": ["ronneby"],
             "occurred_on": "2999-01-01", "kind": "annat", "target_group": "aldre",
             "submitter_name": "A", "submitter_email": "a@example.se"}
        )  # fmt: skip


def test_a_cluster_is_handed_to_lsvo_in_one_action_once(seeded_engine: Engine) -> None:
    first = report(seeded_engine)
    second = report(seeded_engine, occurred_on="2026-03-01", organisations=["karlskrona"])
    third = report(seeded_engine, kind="hjalpmedel", organisations=["olofstrom"])
    vuxna = report(seeded_engine, target_group="vuxna")
    ids = [c.id or 0 for c in (first, second, third, vuxna)]

    cluster_id = deviations.create_cluster(
        seeded_engine, SECRETARY, group_slug="sg-aldre", title="Läkemedel vid utskrivning",
        case_ids=[ids[0]], now=NOW,
    )  # fmt: skip
    with pytest.raises(deviations.NotAllowed):
        deviations.add_to_cluster(seeded_engine, OTHER_SECRETARY, cluster_id, [ids[1]])
    with pytest.raises(deviations.DeviationError, match="finns inte bland"):
        deviations.add_to_cluster(seeded_engine, SECRETARY, cluster_id, [ids[3]])
    deviations.add_to_cluster(seeded_engine, SECRETARY, cluster_id, [ids[1], ids[2]], now=NOW)
    deviations.remove_from_cluster(seeded_engine, SECRETARY, cluster_id, ids[2], now=NOW)
    assert audit_actions(seeded_engine, ids[2]) == [
        "submit", "deviation_clustered", "deviation_unclustered",
    ]  # fmt: skip

    handed = deviations.hand_over(seeded_engine, SECRETARY, cluster_id, rules=RULES, now=NOW)
    case = handed.case
    assert handed.deviation_ids == ids[:2]
    assert (case.destination, case.routing_rule) == ("lsvo", "avvikelse-generell")
    assert case.recurring and case.deviation
    assert case.deviation_cluster_id == cluster_id
    assert case.parent_case_id == ids[0]
    assert case.deviation_date is None
    assert case.deviation_kind == "lakemedel"
    assert case.deviation_organisations == ["region-blekinge", "karlskrona"]
    assert first.reference in case.description and second.reference in case.description
    assert third.reference not in case.description
    assert "Läkemedel (2)" in case.description
    assert "Karlskrona kommun (2)" in case.description
    assert "2026-02-10 – 2026-03-01" in case.description
    for deviation_id in ids[:2]:
        assert audit_actions(seeded_engine, deviation_id)[-1] == "deviation_handed_over"
    assert audit_actions(seeded_engine, ids[2])[-1] == "deviation_unclustered"

    with pytest.raises(deviations.DeviationError, match="redan lämnade"):
        deviations.hand_over(seeded_engine, SECRETARY, cluster_id, rules=RULES, now=NOW)
    with pytest.raises(deviations.DeviationError, match="redan lämnade"):
        deviations.add_to_cluster(seeded_engine, SECRETARY, cluster_id, [ids[2]])
    with unit_of_work(seeded_engine, write=False) as session:
        cluster = session.get(DeviationCluster, cluster_id)
        assert cluster is not None
        assert cluster.handed_at == NOW and cluster.handed_by == SECRETARY.email
        handovers = session.exec(
            select(Case).where(col(Case.deviation_cluster_id) == cluster_id)
        ).all()
        assert sorted(c.id or 0 for c in handovers) == sorted([*ids[:2], case.id or 0])
        assert deviations.handover_case(session, cluster_id) is not None
        # The hand-over is not itself a deviation: it is not listed or counted.
        listed = deviations.list_deviations(session, "lsvo")
        assert case.id not in [c.id for c in listed]
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "deviation_handed_over")
        ).all()
        assert len(events) == 2


def test_an_empty_cluster_is_not_handed_over(seeded_engine: Engine) -> None:
    cluster_id = deviations.create_cluster(
        seeded_engine, SECRETARY, group_slug="sg-aldre", title="Tom"
    )
    with pytest.raises(deviations.DeviationError, match="minst en"):
        deviations.hand_over(seeded_engine, SECRETARY, cluster_id, rules=RULES)
    with unit_of_work(seeded_engine, write=False) as session:
        assert (
            session.exec(select(Case).where(col(Case.title).startswith("Avvikelser"))).all() == []
        )


def test_a_secretary_of_another_group_may_not_make_a_cluster(seeded_engine: Engine) -> None:
    with pytest.raises(deviations.NotAllowed):
        deviations.create_cluster(
            seeded_engine, OTHER_SECRETARY, group_slug="sg-aldre", title="Inte min grupp"
        )


def test_making_a_cluster_is_audited_and_its_title_holds_no_identity_number(
    seeded_engine: Engine,
) -> None:
    with pytest.raises(deviations.DeviationError, match="personnummer"):
        deviations.create_cluster(
            seeded_engine, SECRETARY, group_slug="sg-aldre", title="Gäller 19121212-1212"
        )
    cluster_id = deviations.create_cluster(
        seeded_engine, SECRETARY, group_slug="sg-aldre", title="Hjälpmedel", now=NOW
    )
    with unit_of_work(seeded_engine, write=False) as session:
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "deviation_cluster_created")
        ).all()
        assert len(session.exec(select(DeviationCluster)).all()) == 1
    assert event.case_id is None and event.actor == SECRETARY.email
    assert event.after == {"cluster_id": cluster_id, "group": "sg-aldre", "title": "Hjälpmedel"}


def test_suggestions_are_the_same_kind_with_an_organisation_or_words_in_common(
    seeded_engine: Engine,
) -> None:
    member = report(seeded_engine, organisations=["ronneby"])
    same_org = report(seeded_engine, organisations=["ronneby", "karlshamn"], description="Annat.")
    same_words = report(seeded_engine, organisations=["olofstrom"])
    other_kind = report(seeded_engine, kind="sip", organisations=["ronneby"])
    unrelated = report(seeded_engine, organisations=["solvesborg"], description="Något helt annat.",
                       place="Vårdcentral")  # fmt: skip
    found = deviations.suggest([member], [same_org, same_words, other_kind, unrelated])
    assert [s.case.id for s in found] == [same_org.id, same_words.id]
    assert "Ronneby kommun" in found[0].reason
    assert "gemensamma ord" in found[1].reason and "utskrivningen" in found[1].reason


def test_statistics_count_per_kind_and_organisation_and_month(seeded_engine: Engine) -> None:
    report(seeded_engine, occurred_on="2026-01-05", organisations=["karlskrona"])
    report(seeded_engine, occurred_on="2026-01-20", kind="sip", organisations=["karlskrona",
           "ronneby"])  # fmt: skip
    report(seeded_engine, occurred_on="2026-03-02", organisations=["region-blekinge"])
    report(seeded_engine, occurred_on="2026-03-03", recurring=True, organisations=["ronneby"])
    report(seeded_engine, occurred_on="2025-12-31", organisations=["ronneby"])  # outside
    with unit_of_work(seeded_engine, write=False) as session:
        stats = deviations.statistics(
            session, start=date(2026, 1, 1), end=date(2026, 3, 31), group_slug=None
        )
        aldre = deviations.statistics(
            session, start=date(2026, 1, 1), end=date(2026, 3, 31), group_slug="sg-aldre"
        )
    assert stats.months == [(2026, 1), (2026, 2), (2026, 3)]
    kinds = {r.key: r.counts for r in stats.by_kind}
    orgs = {r.key: r.counts for r in stats.by_organisation}
    assert kinds["lakemedel"] == [1, 0, 2]
    assert kinds["sip"] == [1, 0, 0]
    assert kinds["annat"] == [0, 0, 0]
    assert orgs["karlskrona"] == [2, 0, 0]
    assert orgs["ronneby"] == [1, 0, 1]
    assert orgs["region-blekinge"] == [0, 0, 1]
    assert stats.total == 4
    assert aldre.total == 3  # the recurring one went to LSVO
    assert {r.key: r.counts for r in aldre.by_organisation}["ronneby"] == [1, 0, 0]

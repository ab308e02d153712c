"""Rate limits counted in the database: windows, the sliding count, atomic hits, pruning."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

import rules
from casework import rate_limits, services
from casework.db import make_engine, unit_of_work
from casework.model import Case, CaseCreate, RateWindow
from casework.rate_limits import RateLimit, RateLimited

MINUTE = RateLimit("test", 3, timedelta(minutes=1))
NINE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NINE + timedelta(seconds=seconds)


def windows(engine: Engine) -> dict[tuple[str, datetime], int]:
    with unit_of_work(engine, write=False) as session:
        rows = session.exec(select(RateWindow)).all()
    return {(row.key, row.window_start): row.hits for row in rows}


def take(engine: Engine, rate: RateLimit, key: str, now: datetime) -> bool:
    try:
        with unit_of_work(engine) as session:
            rate_limits.take(session, rate, key, now)
    except RateLimited:
        return False
    return True


def test_windows_are_aligned_to_the_epoch_so_every_process_agrees() -> None:
    assert MINUTE.window_start(at(59.999)) == NINE
    assert MINUTE.window_start(at(60)) == NINE + timedelta(minutes=1)
    quarter = RateLimit("q", 5, timedelta(minutes=15))
    assert quarter.window_start(datetime(2026, 3, 2, 9, 29, 59, tzinfo=UTC)) == at(15 * 60)
    assert quarter.retry_after == 900


def test_a_limit_must_fit_the_retention() -> None:
    with pytest.raises(ValueError, match="rate window"):
        RateLimit("long", 5, timedelta(hours=2))
    with pytest.raises(ValueError, match="at least one"):
        RateLimit("none", 0, timedelta(minutes=1))


def test_keys_are_hashed_and_scoped() -> None:
    key = MINUTE.key("anna@example.se", "192.0.2.7")
    assert key.startswith("test:")
    assert "anna" not in key and "192.0.2.7" not in key
    assert key != MINUTE.key("anna@example.se", "192.0.2.8")
    assert key != RateLimit("other", 3, timedelta(minutes=1)).key("anna@example.se", "192.0.2.7")
    assert len(MINUTE.key("x" * 254, "y" * 45)) <= 200


def test_the_limit_counts_hits_and_a_refused_one_is_not_counted(migrated_engine: Engine) -> None:
    assert [take(migrated_engine, MINUTE, "k", at(s)) for s in (0, 10, 20, 30, 40)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert windows(migrated_engine) == {("k", NINE): 3}
    # Another key has its own count.
    assert take(migrated_engine, MINUTE, "other", at(41))


def test_the_previous_window_is_weighted_by_how_much_of_it_is_still_inside(
    migrated_engine: Engine,
) -> None:
    for second in (50, 55, 58):
        assert take(migrated_engine, MINUTE, "k", at(second))
    # 15 s into the next minute 3 × 45/60 = 2.25 still count, and one more would make 3.25:
    # a burst at the end of a minute does not buy a fresh allowance at the next.
    assert not take(migrated_engine, MINUTE, "k", at(75))
    with unit_of_work(migrated_engine, write=False) as session:
        assert rate_limits.count(session, MINUTE, "k", at(75)) == pytest.approx(2.25)
        assert rate_limits.count(session, MINUTE, "k", at(100)) == pytest.approx(1.0)
    # 40 s in: 3 × 20/60 = 1 counts, so two more fit, not three.
    assert [take(migrated_engine, MINUTE, "k", at(100 + s / 10)) for s in range(3)] == [
        True,
        True,
        False,
    ]
    # Two minutes on, the old hits are gone from the count.
    assert [take(migrated_engine, MINUTE, "k", at(180 + s)) for s in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_concurrent_hits_from_two_engines_are_all_counted(database_url: str) -> None:
    """Two engines with their own pools, as two processes would have: no hit is lost."""
    from casework.db import migrate

    engines = [make_engine(database_url), make_engine(database_url)]
    migrate(engines[0])
    rate = RateLimit("burst", 10_000, timedelta(minutes=1))
    errors: list[BaseException] = []

    def hammer(engine: Engine) -> None:
        try:
            for _ in range(25):
                with unit_of_work(engine) as session:
                    rate_limits.hit(session, rate, "shared", at(1))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(e,)) for e in engines for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert windows(engines[1]) == {("shared", NINE): 150}
    finally:
        for engine in engines:
            engine.dispose()


def test_forget_clears_a_key_and_prune_drops_only_old_windows(migrated_engine: Engine) -> None:
    for second in (0, 70, 130):
        assert take(migrated_engine, MINUTE, "a", at(second))
    assert take(migrated_engine, MINUTE, "b", at(130))
    with unit_of_work(migrated_engine) as session:
        rate_limits.forget(session, "b")
    assert set(windows(migrated_engine)) == {("a", at(0)), ("a", at(60)), ("a", at(120))}

    with unit_of_work(migrated_engine) as session:
        deleted = rate_limits.prune(session, at(60) + rate_limits.RETENTION)
    assert deleted == 1
    assert set(windows(migrated_engine)) == {("a", at(60)), ("a", at(120))}


def _submission(title: str) -> CaseCreate:
    return CaseCreate(
        title=title,
        description="Ett ärende om samverkan.",
        kind=("information",),
        target_groups=("vuxna",),
        submitter_name="Anna Andersson",
        submitter_email="anna@example.se",
        submitter_organisation="Ronneby kommun",
    )


def test_a_submission_takes_its_hit_in_its_own_transaction(seeded_engine: Engine) -> None:
    quota = rate_limits.Quota(RateLimit("submission", 1, timedelta(minutes=1)), "client")
    rule_set = rules.load_rules()

    def submit(title: str) -> services.Submitted:
        return services.submit_case(
            seeded_engine, _submission(title), actor="anna", rules=rule_set, quota=quota, now=at(5)
        )

    first = submit("Första")
    with pytest.raises(RateLimited) as refused:
        submit("Andra")
    assert refused.value.retry_after == 60
    with unit_of_work(seeded_engine, write=False) as session:
        titles = session.exec(select(Case.title)).all()
    assert titles == ["Första"]
    assert windows(seeded_engine) == {("client", NINE): 1}
    # The refused submission gave its reference number back.
    third = services.submit_case(
        seeded_engine, _submission("Tredje"), actor="beredning@example.se", rules=rule_set
    )
    assert first.case.reference.endswith("-0001")
    assert third.case.reference.endswith("-0002")


def test_a_hit_that_opens_a_new_window_prunes_old_ones(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert take(migrated_engine, MINUTE, "old", at(0))
    assert take(migrated_engine, MINUTE, "older", at(-60))
    monkeypatch.setattr(rate_limits, "PRUNE_ONE_IN", 1)
    later = at(0) + rate_limits.RETENTION + timedelta(minutes=1)
    assert take(migrated_engine, MINUTE, "new", later)
    assert set(windows(migrated_engine)) == {("new", MINUTE.window_start(later))}

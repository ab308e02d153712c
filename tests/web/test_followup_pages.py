"""The follow-up pages: the register and its figures for staff, filters, marking done and
reopening (CSRF, roles, errors beside the field), the CSV export, and the owner's page."""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import StaffUser, _staff, csrf, sign_in
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from casework import followup, repository
from casework.db import unit_of_work
from casework.model import AssignmentStatus, StaffRole

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from followup_world import add_assignment, assignment


def post(client: TestClient, path: str, data: dict[str, object] | None = None) -> Response:
    return client.post(
        path, data={"csrf_token": csrf(client), **(data or {})}, follow_redirects=False
    )


def text_of(response: Response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


@pytest.fixture
def groups(seeded_engine: Engine) -> dict[str, int]:
    with unit_of_work(seeded_engine) as session:
        found = {}
        for slug in ("lsvo", "sg-vuxna"):
            group = repository.get_group(session, slug=slug)
            assert group is not None and group.id is not None
            found[slug] = group.id
        return found


@pytest.fixture
def tasks(seeded_engine: Engine, groups: dict[str, int]) -> dict[str, int]:
    """In LSVO one overdue assignment, one done, one draft; in sg-vuxna one overdue."""
    engine = seeded_engine
    return {
        "overdue": add_assignment(
            engine, groups["lsvo"], date(2025, 1, 10), due_date=date(2025, 2, 3),
            description="Ta fram en gemensam rutin",
        ),
        "done": add_assignment(
            engine, groups["lsvo"], date(2025, 1, 10), due_date=date(2025, 2, 3),
            description="Bjud in skolan", done_at=datetime(2025, 1, 30, 12, tzinfo=UTC),
        ),
        "draft": add_assignment(
            engine, groups["lsvo"], date(2025, 3, 7), due_date=date(2025, 4, 1),
            description="Ett utkast", final=False,
        ),
        "vuxna": add_assignment(
            engine, groups["sg-vuxna"], date(2025, 1, 17), due_date=date(2025, 2, 3),
            description="Vuxnas uppdrag",
        ),
    }  # fmt: skip


@pytest.fixture
def secretary(seeded_engine: Engine) -> StaffUser:
    return _staff(seeded_engine, "sekreterare@example.se", StaffRole.secretary, "lsvo")


@pytest.fixture
def signed_in(client: TestClient, secretary: StaffUser, tasks: dict[str, int]) -> TestClient:
    sign_in(client, secretary)
    return client


def test_the_overview_shows_the_groups_served(signed_in: TestClient) -> None:
    page = signed_in.get("/uppfoljning")
    assert page.status_code == 200
    assert '<a href="/uppfoljning">Uppföljning</a>' in page.text
    text = text_of(page)
    assert "LSVO" in text or "Ledningsgrupp" in text
    assert 'href="/uppfoljning/lsvo"' in page.text
    assert 'href="/uppfoljning/sg-vuxna"' not in page.text
    assert "Ta fram en gemensam rutin" in text
    assert "Ett utkast" not in text


def test_beredning_sees_every_group_but_changes_nothing(
    client: TestClient, seeded_engine: Engine, beredning: StaffUser, tasks: dict[str, int]
) -> None:
    sign_in(client, beredning)
    page = client.get("/uppfoljning")
    assert 'href="/uppfoljning/lsvo"' in page.text
    assert 'href="/uppfoljning/sg-vuxna"' in page.text
    register = client.get("/uppfoljning/lsvo")
    assert register.status_code == 200
    assert "Markera som klart" not in register.text
    refused = post(client, f"/uppfoljning/lsvo/{tasks['overdue']}/klar", {"report": "Klart"})
    assert refused.status_code == 403
    assert assignment(seeded_engine, tasks["overdue"]).status == AssignmentStatus.open


def test_the_register_filters_and_keeps_other_groups_out(
    signed_in: TestClient, tasks: dict[str, int]
) -> None:
    page = signed_in.get("/uppfoljning/lsvo")
    text = text_of(page)
    assert text.index("Ta fram en gemensam rutin") < text.index("Bjud in skolan")
    assert "Ett utkast" not in text
    # The table, after the figures (which name the oldest unexecuted whatever the filter).
    done = text_of(signed_in.get("/uppfoljning/lsvo?status=done")).split("Beslut Uppdrag")[1]
    assert "Bjud in skolan" in done and "Ta fram en gemensam rutin" not in done
    overdue = text_of(signed_in.get("/uppfoljning/lsvo?status=overdue")).split("Beslut Uppdrag")[1]
    assert "Ta fram en gemensam rutin" in overdue and "Bjud in skolan" not in overdue
    assert signed_in.get("/uppfoljning/sg-vuxna").status_code == 403
    assert signed_in.get("/uppfoljning/sg-vuxna.csv").status_code == 403
    assert signed_in.get("/uppfoljning/ingen-grupp").status_code == 404


def test_marking_done_and_reopening(
    signed_in: TestClient, seeded_engine: Engine, tasks: dict[str, int]
) -> None:
    task = tasks["overdue"]
    no_csrf = signed_in.post(
        f"/uppfoljning/lsvo/{task}/klar", data={"report": "Klart"}, follow_redirects=False
    )
    assert no_csrf.status_code == 403
    empty = post(signed_in, f"/uppfoljning/lsvo/{task}/klar", {"report": " "})
    assert empty.status_code == 422
    assert 'id="rapport-' + str(task) + '-fel"' in empty.text
    assert "Skriv en kort återrapport" in empty.text
    assert assignment(seeded_engine, task).status == AssignmentStatus.open
    done = post(signed_in, f"/uppfoljning/lsvo/{task}/klar", {"report": "Rutinen antagen"})
    assert done.status_code == 303
    assert assignment(seeded_engine, task).report == "Rutinen antagen"
    assert "Uppdraget är markerat som klart" in signed_in.get(done.headers["location"]).text
    other_group = post(signed_in, f"/uppfoljning/lsvo/{tasks['vuxna']}/klar", {"report": "x"})
    assert other_group.status_code == 404  # not an assignment of LSVO
    reopened = post(signed_in, f"/uppfoljning/lsvo/{task}/oppna")
    assert reopened.status_code == 303
    assert assignment(seeded_engine, task).status == AssignmentStatus.open
    draft = post(signed_in, f"/uppfoljning/lsvo/{tasks['draft']}/klar", {"report": "x"})
    assert draft.status_code == 404


def test_the_csv_export(signed_in: TestClient, tasks: dict[str, int]) -> None:
    response = signed_in.get("/uppfoljning/lsvo.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(followup.CSV_COLUMNS)
    assert [r[4] for r in rows[1:]] == ["Ta fram en gemensam rutin", "Bjud in skolan"]
    everything = signed_in.get("/uppfoljning.csv")
    described = [r[4] for r in csv.reader(io.StringIO(everything.text), delimiter=";")]
    assert "Vuxnas uppdrag" not in described  # not a group the secretary serves


def test_not_signed_in_is_sent_to_sign_in(client: TestClient, tasks: dict[str, int]) -> None:
    response = client.get("/uppfoljning", follow_redirects=False)
    assert response.status_code in (302, 303, 401)
    assert "Ta fram" not in response.text


def _owner_token(engine: Engine, task: int, now: datetime) -> str:
    with unit_of_work(engine) as session:
        (entry,) = followup.entries(session, now.date(), assignment_ids=[task])
        url = followup.create_owner_link(
            session, entry.assignment, meeting_id=entry.meeting_id, now=now, public_url="https://x"
        )
    return url.removeprefix("https://x/uppdrag/")


def test_the_owner_reports_done_without_an_account(
    client: TestClient, seeded_engine: Engine, tasks: dict[str, int]
) -> None:
    task = tasks["overdue"]
    token = _owner_token(seeded_engine, task, datetime.now(UTC))
    page = client.get(f"/uppdrag/{token}")
    assert page.status_code == 200
    assert "Ta fram en gemensam rutin" in page.text
    assert 'name="robots" content="noindex' in page.text
    empty = post(client, f"/uppdrag/{token}", {"report": ""})
    assert empty.status_code == 422
    assert 'aria-invalid="true"' in empty.text
    done = post(client, f"/uppdrag/{token}", {"report": "Rutinen är antagen"})
    assert done.status_code == 303
    assert assignment(seeded_engine, task).status == AssignmentStatus.done
    assert "Tack!" in client.get(done.headers["location"]).text
    wrong = token.replace(f"{task}.", f"{tasks['vuxna']}.", 1)
    assert client.get(f"/uppdrag/{wrong}").status_code == 404
    assert post(client, f"/uppdrag/{wrong}", {"report": "x"}).status_code == 404
    old = _owner_token(seeded_engine, tasks["vuxna"], datetime(2025, 1, 20, 9, tzinfo=UTC))
    assert client.get(f"/uppdrag/{old}").status_code == 410
    assert post(client, f"/uppdrag/{old}", {"report": "x"}).status_code == 410
    assert assignment(seeded_engine, tasks["vuxna"]).status == AssignmentStatus.open

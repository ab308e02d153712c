"""The `samverkan` command's contract, run as a user runs it: a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rules import BUNDLED

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO.parent / "shared" / "examples" / "routing.jsonl"
BUNDLED_EXAMPLES = REPO / "casework" / "demo" / "routing.jsonl"


def samverkan(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("samverkan", path=str(Path(sys.executable).parent))
    assert exe, "the samverkan console script is not installed in this environment"
    return subprocess.run(
        [exe, *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def json_lines(out: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.decode().splitlines()]


@pytest.mark.parametrize("path", [EXAMPLES, BUNDLED_EXAMPLES], ids=["shared", "bundled"])
def test_route_labelled_examples_from_file(path: Path) -> None:
    assert path.exists(), f"{path} is missing"
    expected = [json.loads(line)["expected"] for line in path.read_text().splitlines()]
    done = samverkan("route", str(path))
    assert done.returncode == 0, done.stderr.decode()
    results = json_lines(done.stdout)
    assert len(results) == len(expected)
    for got, want in zip(results, expected, strict=True):
        assert set(got) == {
            "destination",
            "requires_endorsement",
            "lead_group",
            "rule",
            "explanation",
        }
        assert got["destination"] == want["destination"]
        assert got["requires_endorsement"] == want.get("requires_endorsement", False)
        assert f"regel {got['rule']}" in str(got["explanation"])


def test_route_reads_standard_input_and_keeps_order_past_bad_lines() -> None:
    lines = [
        '{"title": "Demensvården i länet", "kind": "information"}',
        "this is not json",
        '{"case": {"title": "Elevhälsan och BUP", "target_groups": []}}',
        '{"title": "", "kind": "beslut"}',
        '{"title": "Ok", "kind": "röstning"}',
        '{"title": "Ok", "colour": "blue"}',
        '["a", "list"]',
        '{"title": "Oenighet", "escalated_from": "sg-vuxen"}',
        '{"title": "Statsbidrag för psykisk hälsa", "kind": "B"}',
    ]
    done = samverkan("route", stdin="\n".join(lines).encode())
    assert done.returncode == 1
    results = json_lines(done.stdout)
    assert [r["destination"] for r in results] == ["sg-aldre", "sg-barn-unga", "lsvo"]
    errors = done.stderr.decode()
    for number in (2, 4, 5, 6, 7, 8):
        assert f"line {number}:" in errors
    for number in (1, 3, 9):
        assert f"line {number}:" not in errors
    assert "not valid JSON" in errors
    assert "röstning" in errors
    assert "colour: unknown field" in errors
    assert "unknown group 'sg-vuxen'" in errors
    assert "Traceback" not in errors


def test_route_reports_a_line_that_is_not_utf8() -> None:
    done = samverkan("route", stdin=b'{"title": "\xff\xfe"}\n{"title": "Demens"}\n')
    assert done.returncode == 1
    assert [r["destination"] for r in json_lines(done.stdout)] == ["sg-aldre"]
    assert "line 1: not UTF-8 text" in done.stderr.decode()


def test_route_text_format_is_for_people() -> None:
    done = samverkan("route", "--format", "text", str(BUNDLED_EXAMPLES))
    assert done.returncode == 0
    out = done.stdout.decode()
    assert "→ Samverkansgrupp Äldre (att åldras) (sg-aldre)" in out
    assert "kräver stöd från varje organisations egna beslutsorgan" in out


def test_route_with_a_broken_rule_file_names_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text(
        BUNDLED.read_text().replace("{flag: requests_resources}", "{flag: resources}")
    )
    done = samverkan("route", "--rules", str(broken), stdin=b'{"title": "x"}\n')
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "'resources' is not a yes/no field" in err
    assert "did you mean 'requests_resources'" in err
    assert f"{broken}:" in err


def test_rules_check_clean_and_broken(tmp_path: Path) -> None:
    ok = samverkan("rules", "check")
    assert ok.returncode == 0, ok.stderr.decode()
    assert b"ok" in ok.stdout

    text = BUNDLED.read_text()
    fallback = text.index("      - id: manuell-beredning")
    shadowed = text[:fallback].replace(
        "      - id: utokade-resurser",
        "      - id: alltid\n        description: x\n"
        "        then: {destination: lsvo}\n      - id: utokade-resurser",
        1,
    )
    path = tmp_path / "shadowed.yaml"
    path.write_text(shadowed)
    done = samverkan("rules", "check", str(path))
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "rule 'utokade-resurser': can never match: rule 'alltid'" in err
    assert "no fallback rule" in err


def test_rules_check_via_environment(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(BUNDLED.read_text().replace("id: avvikelse-vuxna", "id: avvikelse-barn-unga"))
    done = samverkan("rules", "check", env={"SAMVERKAN_RULES": str(path)})
    assert done.returncode == 1
    assert "duplicate rule id" in done.stderr.decode()


@pytest.mark.parametrize(
    ("group", "meeting", "agenda", "submission"),
    [
        ("lsvo", "2023-05-12", "2023-05-05", "2023-04-28"),
        ("lsvo", "2026-06-26", "2026-06-18", "2026-06-11"),
        ("sg-aldre", "2026-01-09", "2026-01-02", "2025-12-23"),
    ],
)
def test_deadlines(tmp_path: Path, group: str, meeting: str, agenda: str, submission: str) -> None:
    env = {"SAMVERKAN_DATA_DIR": str(tmp_path), "SAMVERKAN_DATABASE_URL": ""}
    done = samverkan("deadlines", group, meeting, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == {
        "group": group,
        "meeting": meeting,
        "agenda_due": agenda,
        "submission_due": submission,
    }


def test_deadlines_refuses_bad_input(tmp_path: Path) -> None:
    env = {"SAMVERKAN_DATA_DIR": str(tmp_path), "SAMVERKAN_DATABASE_URL": ""}
    bad_date = samverkan("deadlines", "lsvo", "2026-13-01", env=env)
    assert bad_date.returncode == 2
    assert "use YYYY-MM-DD" in bad_date.stderr.decode()
    bad_group = samverkan("deadlines", "sg-vuxen", "2026-06-26", env=env)
    assert bad_group.returncode == 2
    assert "sg-vuxna" in bad_group.stderr.decode()
    assert b"Traceback" not in bad_group.stderr

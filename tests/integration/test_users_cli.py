"""`samverkan users`: staff accounts made from the command line, run as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from casework import accounts
from casework.db import make_engine
from casework.model import StaffRole

PASSWORD = "korrekt häst batteri häftklammer"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def samverkan(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    exe = shutil.which("samverkan", path=str(Path(sys.executable).parent))
    assert exe, "the samverkan console script is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMVERKAN_")}
    env["SAMVERKAN_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [exe, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def database(data_dir: Path) -> Engine:
    return make_engine(f"sqlite:///{data_dir / 'samverkan.db'}")


def test_add_a_user_and_issue_a_token(data_dir: Path) -> None:
    added = samverkan(
        data_dir,
        "users",
        "add",
        "Bodil.Beredning@Example.se",
        "--role",
        "beredning",
        "--name",
        "Bodil Beredning",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "bodil.beredning@example.se" in added.stdout

    issued = samverkan(data_dir, "users", "token", "bodil.beredning@example.se")

    assert issued.returncode == 0, issued.stderr
    lines = issued.stdout.splitlines()
    assert len(lines) == 1
    engine = database(data_dir)
    try:
        identity = accounts.token_identity(engine, lines[0])
        assert identity is not None
        assert identity.email == "bodil.beredning@example.se"
        assert identity.name == "Bodil Beredning"
        assert identity.has(StaffRole.beredning)
        # The password read from standard input, without its newline, signs in.
        signed_in = accounts.authenticate(engine, email=identity.email, password=PASSWORD)
        assert signed_in is not None
    finally:
        engine.dispose()


def test_a_secretary_gets_a_group(data_dir: Path) -> None:
    done = samverkan(
        data_dir,
        "users",
        "add",
        "sekreterare@example.se",
        "--role",
        "secretary",
        "--group",
        "lsvo",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert done.returncode == 0, done.stderr
    engine = database(data_dir)
    try:
        identity = accounts.authenticate(engine, email="sekreterare@example.se", password=PASSWORD)
        assert identity is not None
        assert identity.roles == frozenset({(StaffRole.secretary, "lsvo")})
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "beredning", "--password-stdin"], "elva tecken", "at least 12 characters"),
        (["--role", "beredning", "--password-stdin"], "", "at least 12 characters"),
        (["--role", "secretary", "--password-stdin"], PASSWORD, "needs --group"),
        (["--role", "chair", "--password-stdin"], PASSWORD, "needs --group"),
        (
            ["--role", "chair", "--group", "sg-aldr", "--password-stdin"],
            PASSWORD,
            "did you mean 'sg-aldre'",
        ),
        (["--role", "boss", "--password-stdin"], PASSWORD, "unknown role 'boss'"),
        (["--role", "beredning"], PASSWORD, "--password-stdin"),
    ],
)
def test_add_refuses_with_a_clear_message(
    data_dir: Path, args: list[str], stdin: str, message: str
) -> None:
    done = samverkan(data_dir, "users", "add", "x@example.se", *args, stdin=stdin)

    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_token_for_an_unknown_user_is_refused(data_dir: Path) -> None:
    done = samverkan(data_dir, "users", "token", "ingen@example.se")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "no user with e-mail 'ingen@example.se'" in done.stderr

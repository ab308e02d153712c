"""`samverkan db upgrade` run by several processes at once on a fresh database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session

from casework.db import alembic_config
from casework.model import Group, Member, Organisation
from casework.seed import GROUPS, LSVO_MEMBERS, ORGANISATIONS

PROCESSES = 4


def _upgrade_together(database_url: str, data_dir: Path) -> list[subprocess.CompletedProcess[str]]:
    exe = shutil.which("samverkan", path=str(Path(sys.executable).parent))
    assert exe, "the samverkan console script is not installed in this environment"
    env = {
        **os.environ,
        "SAMVERKAN_DATABASE_URL": database_url,
        "SAMVERKAN_DATA_DIR": str(data_dir),
    }
    started = [
        subprocess.Popen(
            [exe, "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    done = []
    for process in started:
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def test_processes_upgrading_at_once_all_succeed_and_migrate_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    done = _upgrade_together(database_url, tmp_path)

    for result in done:
        assert result.returncode == 0, result.stderr
        assert "database is up to date" in result.stdout
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert [row[0] for row in versions] == [head]
    # The seed went in once, not once per process.
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == len(ORGANISATIONS)
        assert session.scalar(select(func.count()).select_from(Group)) == len(GROUPS)
        assert session.scalar(select(func.count()).select_from(Member)) == len(LSVO_MEMBERS)

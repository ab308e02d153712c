"""The attendance of the LSVO meeting of 2021-06-04, read from the seed minutes.

`shared/seeds/` sits beside the checkout; it is looked for upwards from the repository root.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
MINUTES_NAME = Path("shared", "seeds", "lsvo-protokoll-2021-06-04.txt")


def minutes_file() -> Path:
    for folder in (REPO_ROOT, *REPO_ROOT.parents):
        candidate = folder / MINUTES_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{MINUTES_NAME} not found beside the checkout {REPO_ROOT}")


def attendance() -> tuple[list[str], list[str]]:
    """The names listed as present (the chair included) and as absent, in the minutes' order."""
    present: list[str] = []
    absent: list[str] = []
    target: list[str] | None = None
    for raw in minutes_file().read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#### Närvarande"):
            target = present
            continue
        if line.startswith("**Frånvarande"):
            target = absent
            continue
        if line.startswith("**Sekreterare"):
            break
        if target is None or not line or line.startswith("#"):
            continue
        target.append(line.split(",")[0].strip())
    return present, absent

"""One root exception for the rules package; subclasses carry structured fields."""

from __future__ import annotations

from dataclasses import dataclass


class RulesError(Exception):
    """Root of every error raised by the rules package."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rule file, located as precisely as the file allows."""

    file: str
    line: int | None
    message: str
    rule_id: str | None = None
    suggestion: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        rule = f" rule {self.rule_id!r}:" if self.rule_id else ""
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{where}: {self.severity}:{rule} {self.message}{hint}"


class RuleFileError(RulesError):
    """A rule file could not be loaded; `problems` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class NoMatchingRule(RulesError):
    """No rule of a first-hit table matched: the rule set lacks a fallback rule."""

    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f"no rule in table {table!r} matched and it has no fallback rule")


class UnknownGroup(RulesError, ValueError):
    """A case names a group that the rule set does not declare."""

    def __init__(self, field: str, value: str, known: tuple[str, ...]) -> None:
        self.field = field
        self.value = value
        self.known = known
        super().__init__(f"{field}: unknown group {value!r}; known groups: {', '.join(known)}")

"""The declarative routing language: YAML rule files, validated, compiled and explained."""

from __future__ import annotations

from pathlib import Path

from rules.compiler import RuleSet, compile_rules
from rules.errors import NoMatchingRule, Problem, RuleFileError, RulesError, UnknownGroup
from rules.facts import CaseFacts, RouteResult
from rules.loader import BUNDLED, load_definition

__all__ = [
    "BUNDLED",
    "CaseFacts",
    "NoMatchingRule",
    "Problem",
    "RouteResult",
    "RuleFileError",
    "RuleSet",
    "RulesError",
    "UnknownGroup",
    "load_rules",
]


def load_rules(path: Path | str | None = None) -> RuleSet:
    """Load, validate and compile a rule file (default: the bundled Samverkan Blekinge rules)."""
    return compile_rules(load_definition(path))

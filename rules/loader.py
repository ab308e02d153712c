"""YAML rule file → validated, frozen `RuleSetDefinition`, or every problem found."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rules import yamlsafe
from rules.errors import Problem, RuleFileError
from rules.schema import (
    ALL_OPERATORS,
    FIELD_TYPES,
    FIELD_VALUES,
    OPERATORS,
    ROUTE_TABLE,
    AllOf,
    AnyOf,
    Condition,
    FieldTest,
    FieldType,
    Not,
    Outcome,
    OutcomeDoc,
    Rule,
    RuleDoc,
    RuleFileDoc,
    RuleSetDefinition,
    Table,
    TableDoc,
    TextTest,
    Vocabulary,
    VocabularyDoc,
)
from rules.text import SEPARATOR, normalise

BUNDLED = Path(__file__).with_name("samverkan_blekinge.yaml")
CONDITION_KEYS = ("all", "any", "not", "flag", "text", "field")
_NESTED: dict[tuple[type[BaseModel], Any], type[BaseModel]] = {
    (RuleFileDoc, "vocabularies"): VocabularyDoc,
    (RuleFileDoc, "tables"): TableDoc,
    (TableDoc, "rules"): RuleDoc,
    (RuleDoc, "then"): OutcomeDoc,
}


def suggest(word: object, choices: Iterable[str]) -> str | None:
    """The closest known name to a misspelt one, if any is close."""
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def load_definition(path: Path | str | None = None) -> RuleSetDefinition:
    """Read and validate a rule file (default: the bundled Samverkan Blekinge rules)."""
    source = Path(path) if path is not None else BUNDLED
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError([Problem(str(source), None, f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise RuleFileError([Problem(str(source), None, "not UTF-8 text")]) from None
    return parse_definition(text, str(source))


def parse_definition(text: str, source: str = "<rules>") -> RuleSetDefinition:
    try:
        doc = yamlsafe.load(text)
    except yamlsafe.YamlError as exc:
        raise RuleFileError([Problem(source, exc.line, str(exc))]) from None
    return _Builder(source, doc).build()


class _Builder:
    def __init__(self, source: str, doc: yamlsafe.Located) -> None:
        self.source = source
        self.doc = doc
        self.problems: list[Problem] = []
        self.rule_id: str | None = None

    def problem(
        self, path: tuple[str | int, ...], message: str, suggestion: str | None = None
    ) -> None:
        self.problems.append(
            Problem(self.source, self.doc.line_of(path), message, self.rule_id, suggestion)
        )

    def build(self) -> RuleSetDefinition:
        try:
            parsed = RuleFileDoc.model_validate(self.doc.data)
        except ValidationError as exc:
            self._schema_problems(exc)
            raise RuleFileError(self.problems) from None
        vocabularies = {
            name: self._vocabulary(name, v.label, v.word_starts, v.whole_words, v.exclude)
            for name, v in parsed.vocabularies.items()
        }
        tables = self._tables(parsed, vocabularies)
        if self.problems:
            raise RuleFileError(self.problems)
        return RuleSetDefinition(
            name=parsed.name,
            source=self.source,
            destinations=dict(parsed.destinations),
            vocabularies=vocabularies,
            tables=tables,
        )

    # -- schema errors, with lines and suggestions ------------------------------------

    def _schema_problems(self, exc: ValidationError) -> None:
        for err in exc.errors():
            loc = tuple(err["loc"])
            self.rule_id = self._rule_id_at(loc)
            if err["type"] == "extra_forbidden":
                known = self._known_keys(loc[:-1])
                self.problem(loc, f"unknown key {loc[-1]!r}", suggest(loc[-1], known))
            elif err["type"] == "missing":
                self.problem(loc[:-1], f"missing required key {loc[-1]!r}")
            else:
                where = ".".join(str(p) for p in loc) or "document"
                self.problem(loc, f"{where}: {err['msg']}")
        self.rule_id = None

    def _rule_id_at(self, loc: tuple[Any, ...]) -> str | None:
        if len(loc) >= 4 and loc[0] == "tables" and loc[2] == "rules":
            try:
                rid = self.doc.data["tables"][loc[1]]["rules"][loc[3]]["id"]
            except (KeyError, IndexError, TypeError):
                return None
            return rid if isinstance(rid, str) else None
        return None

    @staticmethod
    def _known_keys(loc: tuple[Any, ...]) -> list[str]:
        model: type[BaseModel] = RuleFileDoc
        for part in loc:
            model = _NESTED.get((model, part), model)
        return list(model.model_fields)

    # -- vocabularies ------------------------------------------------------------------

    def _vocabulary(
        self, name: str, label: str, starts: list[str], whole: list[str], exclude: list[str]
    ) -> Vocabulary:
        lists = {"word_starts": starts, "whole_words": whole, "exclude": exclude}
        cleaned: dict[str, tuple[str, ...]] = {}
        for key, entries in lists.items():
            out: list[str] = []
            for i, entry in enumerate(entries):
                norm = _entry(entry, wildcard=key == "exclude")
                if norm is None:
                    star = " (and * at the end of a word)" if key == "exclude" else ""
                    self.problem(
                        ("vocabularies", name, key, i),
                        f"vocabulary {name!r}: {key} entry {entry!r} must be letters and digits"
                        f"{star}, words separated by spaces, hyphens, dashes or slashes",
                    )
                    continue
                if norm in out:
                    self.problem(
                        ("vocabularies", name, key, i),
                        f"vocabulary {name!r}: {key} lists {entry!r} twice",
                    )
                out.append(norm)
            cleaned[key] = tuple(out)
        if not cleaned["word_starts"] and not cleaned["whole_words"]:
            self.problem(("vocabularies", name), f"vocabulary {name!r} has no words to match")
        return Vocabulary(
            name=name,
            label=label,
            word_starts=cleaned["word_starts"],
            whole_words=cleaned["whole_words"],
            exclude=cleaned["exclude"],
        )

    # -- tables and rules --------------------------------------------------------------

    def _tables(
        self, parsed: RuleFileDoc, vocabularies: dict[str, Vocabulary]
    ) -> tuple[Table, ...]:
        fields: dict[str, FieldType] = dict(FIELD_TYPES)
        values: dict[str, tuple[str, ...]] = dict(FIELD_VALUES)
        slugs = tuple(parsed.destinations)
        seen_ids: dict[str, tuple[str | int, ...]] = {}
        tables: list[Table] = []
        table_ids = [t.id for t in parsed.tables]
        if ROUTE_TABLE not in table_ids:
            self.problem(("tables",), f"no table with id {ROUTE_TABLE!r}: it gives the route")
        elif table_ids[-1] != ROUTE_TABLE:
            self.problem(
                ("tables", table_ids.index(ROUTE_TABLE)),
                f"table {ROUTE_TABLE!r} must come last: it reads what the others derive",
            )
        for ti, t in enumerate(parsed.tables):
            tpath: tuple[str | int, ...] = ("tables", ti)
            if t.id in table_ids[:ti]:
                self.problem((*tpath, "id"), f"a second table with id {t.id!r}")
            elif t.id in fields:
                self.problem((*tpath, "id"), f"table id {t.id!r} is already a case field or table")
            if t.id == ROUTE_TABLE and t.hit_policy != "first":
                self.problem((*tpath, "hit_policy"), "the route table must use hit_policy first")
            if t.id != ROUTE_TABLE and t.hit_policy != "collect":
                self.problem(
                    (*tpath, "hit_policy"),
                    f"table {t.id!r} derives a list for later tables; "
                    "it must use hit_policy collect",
                )
            rules: list[Rule] = []
            for ri, r in enumerate(t.rules):
                rpath = (*tpath, "rules", ri)
                self.rule_id = r.id
                if r.id in seen_ids:
                    self.problem(
                        (*rpath, "id"),
                        "duplicate rule id "
                        f"(first used at line {self.doc.line_of(seen_ids[r.id])})",
                    )
                seen_ids[r.id] = (*rpath, "id")
                when = None
                if r.when is not None:
                    when = self._condition(r.when, (*rpath, "when"), fields, values, vocabularies)
                self._outcome(t, r.then, (*rpath, "then"), slugs)
                rules.append(
                    Rule(
                        id=r.id,
                        description=r.description.strip(),
                        when=when,
                        then=Outcome(**r.then.model_dump()),
                        line=self.doc.line_of(rpath),
                    )
                )
            self.rule_id = None
            tables.append(
                Table(t.id, t.description, t.hit_policy, tuple(rules), self.doc.line_of(tpath))
            )
            if t.id != ROUTE_TABLE:
                fields[t.id] = "list"
                values[t.id] = tuple(r.then.value for r in t.rules if r.then.value)
        return tuple(tables)

    def _outcome(
        self, table: Any, then: Any, path: tuple[str | int, ...], slugs: tuple[str, ...]
    ) -> None:
        if table.id == ROUTE_TABLE:
            if then.destination is None:
                self.problem(path, "a route rule must give a destination")
            if then.value is not None:
                self.problem((*path, "value"), "value is for collect tables; use destination")
            for key in ("destination", "lead_group"):
                slug = getattr(then, key)
                if slug is not None and slug not in slugs:
                    self.problem(
                        (*path, key),
                        f"{key} {slug!r} is not one of the declared destinations",
                        suggest(slug, slugs),
                    )
        else:
            if then.value is None:
                self.problem(path, "a collect rule must give a value")
            extra = [k for k in ("destination", "lead_group") if getattr(then, k) is not None]
            if extra or then.requires_endorsement:
                self.problem(path, "a collect rule gives only a value")

    def _condition(
        self,
        raw: Any,
        path: tuple[str | int, ...],
        fields: dict[str, FieldType],
        values: dict[str, tuple[str, ...]],
        vocabularies: dict[str, Vocabulary],
    ) -> Condition | None:
        line = self.doc.line_of(path)
        if not isinstance(raw, dict) or not raw:
            self.problem(
                path, f"a condition must be a mapping such as {{flag: deviation}}, not {raw!r}"
            )
            return None
        keys = list(raw)
        head = next((k for k in keys if k in CONDITION_KEYS), None)
        if head is None:
            bad = keys[0]
            self.problem(
                (*path, bad),
                f"unknown condition {bad!r}; use one of {', '.join(CONDITION_KEYS)}",
                suggest(bad, CONDITION_KEYS),
            )
            return None
        if head in ("all", "any"):
            if len(keys) != 1:
                self.problem(path, f"{head!r} stands alone in its condition")
            items = raw[head]
            if not isinstance(items, list) or not items:
                self.problem((*path, head), f"{head!r} needs a non-empty list of conditions")
                return None
            parts = [
                self._condition(item, (*path, head, i), fields, values, vocabularies)
                for i, item in enumerate(items)
            ]
            if any(p is None for p in parts):
                return None
            done = tuple(p for p in parts if p is not None)
            return AllOf(done, line) if head == "all" else AnyOf(done, line)
        if head == "not":
            if len(keys) != 1:
                self.problem(path, "'not' stands alone in its condition")
            inner = self._condition(raw["not"], (*path, "not"), fields, values, vocabularies)
            return None if inner is None else Not(inner, line)
        if head == "text":
            if len(keys) != 1:
                self.problem(path, "'text' stands alone in its condition")
            name = raw["text"]
            if not isinstance(name, str) or name not in vocabularies:
                self.problem(
                    (*path, "text"),
                    f"unknown vocabulary {name!r}; declare it under vocabularies",
                    suggest(name, vocabularies),
                )
                return None
            return TextTest(vocabularies[name], line)
        if head == "flag":
            if len(keys) != 1:
                self.problem(path, "'flag' stands alone in its condition")
            name = raw["flag"]
            if not isinstance(name, str) or fields.get(name) != "bool":
                flags = [f for f, t in fields.items() if t == "bool"]
                self.problem(
                    (*path, "flag"), f"{name!r} is not a yes/no field", suggest(name, flags)
                )
                return None
            return FieldTest(name, "equals", True, line)
        return self._field_test(raw, path, fields, values, line)

    def _field_test(
        self,
        raw: dict[str, Any],
        path: tuple[str | int, ...],
        fields: dict[str, FieldType],
        values: dict[str, tuple[str, ...]],
        line: int | None,
    ) -> FieldTest | None:
        name = raw["field"]
        if not isinstance(name, str) or name not in fields:
            self.problem(
                (*path, "field"),
                f"unknown field {name!r}; known fields: {', '.join(fields)}",
                suggest(name, fields),
            )
            return None
        ops = [k for k in raw if k != "field"]
        if len(ops) != 1:
            self.problem(path, f"a field condition needs exactly one of {', '.join(ALL_OPERATORS)}")
            return None
        op = ops[0]
        ftype = fields[name]
        if op not in OPERATORS[ftype]:
            self.problem(
                (*path, op),
                f"operator {op!r} does not apply to {ftype} field {name!r}; "
                f"use {', '.join(OPERATORS[ftype])}",
                suggest(op, OPERATORS[ftype]),
            )
            return None
        value = raw[op]
        vpath = (*path, op)
        allowed = values.get(name)
        if ftype == "slug" or name == "escalated_from":
            allowed = tuple(self.doc.data.get("destinations") or ())
        if op == "empty" or ftype == "bool":
            if not isinstance(value, bool):
                self.problem(vpath, f"{op} takes true or false, not {value!r}")
                return None
        elif op in ("count", "count_at_least"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                self.problem(vpath, f"{op} takes a whole number ≥ 0, not {value!r}")
                return None
        elif op == "in" or (op == "equals" and ftype == "list"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.problem(vpath, f"{op} on {name!r} takes a list of strings")
                return None
            value = tuple(value)
            for v in value:
                if allowed is not None and v not in allowed:
                    self.problem(vpath, f"{v!r} is not a value of {name!r}", suggest(v, allowed))
                    return None
        else:
            if not isinstance(value, str):
                self.problem(vpath, f"{op} on {name!r} takes a string, not {value!r}")
                return None
            if allowed is not None and value not in allowed:
                self.problem(
                    vpath, f"{value!r} is not a value of {name!r}", suggest(value, allowed)
                )
                return None
        return FieldTest(name, op, value, line)


_ENTRY_WORD = re.compile(r"\w+")
_ENTRY_WILDCARD_WORD = re.compile(r"\w+\*?")


def _entry(entry: str, *, wildcard: bool) -> str | None:
    """An entry as normalised words joined by single spaces ("FoU-avtal" → "fou avtal"), or
    None when it holds anything the matcher could not find as written."""
    words = [w for w in re.split(SEPARATOR, normalise(entry)) if w]
    pattern = _ENTRY_WILDCARD_WORD if wildcard else _ENTRY_WORD
    if not words or not all(pattern.fullmatch(w) for w in words):
        return None
    return " ".join(words)

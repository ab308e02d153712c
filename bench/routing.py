"""Routing throughput of the default rule set: `python -m bench.routing [--cases N]`.

Four ways to run the same rules over the same generated cases, side by side:

1. samverkan compiled: `RuleSet.route(facts)`, with explanation, as production uses it (and,
   for reference, the same compiled tests without building the `RouteResult`);
2. rule-engine: the rules translated mechanically to rule-engine expressions
   (`bench.translate`), parsed once, evaluated first-match with `Rule.matches`;
3. JSON Logic (panzi-json-logic): the rules translated to JSON Logic, text tests through a
   registered `regex_search` operation;
4. a hand-written if-chain (`bench.handwritten`): the limit.

Cases and each engine's input are built before timing; only routing is timed. Before timing,
every engine must give the same destination, endorsement flag and rule id on every checked
case, or the benchmark exits with status 1 and the first disagreement.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import rule_engine
from json_logic import jsonLogic
from json_logic.builtins import BUILTINS, to_bool

from bench.cases import DEFAULT_SEED, generate_cases
from bench.handwritten import hand_router
from bench.translate import (
    REGEX_SEARCH,
    Decision,
    dump,
    engine_context,
    json_logic_rule,
    regex_search_operation,
    rule_engine_text,
)
from rules import CaseFacts, NoMatchingRule, RouteResult, RuleSet, load_rules
from rules.compiler import facts_context
from rules.schema import Rule, RuleSetDefinition

FULL_CHECK_SECONDS = 15.0  # an engine this quick on the remaining cases is checked on all
CHUNK = 5_000  # cases timed between two progress updates (the update itself is not timed)

COMPILED = "samverkan compiled"
COMPILED_BARE = "samverkan compiled, no result"
RULE_ENGINE = "rule-engine"
JSON_LOGIC = "JSON Logic"
HAND = "hand-written if-chain"

TARGET_VS_RULE_ENGINE = 50.0  # compiled at least this many times faster than rule-engine
TARGET_VS_HAND = 3.0  # compiled at most this many times slower than the hand-written chain


# --- progress on stderr ---------------------------------------------------------------


class Progress:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.started = time.perf_counter()

    def line(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        end = "\n"
        if self.tty:
            sys.stderr.write("\r\x1b[K")
        sys.stderr.write(f"[{elapsed:6.1f}s] {message}{end}")
        sys.stderr.flush()

    def update(self, message: str, done: int, total: int) -> None:
        if self.tty:
            sys.stderr.write(f"\r\x1b[K  {message}: {done:,}/{total:,}".replace(",", " "))
            sys.stderr.flush()


# --- the engines ----------------------------------------------------------------------


@dataclass
class Engine:
    name: str
    note: str
    route: Callable[[Any], object]  # what is timed
    decide: Callable[[Any], Decision]  # the same routing, as a comparable decision
    inputs: list[Any]  # one per case, prepared before timing
    times: list[float] = field(default_factory=list)
    timed_cases: int = 0
    estimate_us: float = 0.0  # per case, from the correctness check
    checked: int = 0  # cases on which it was checked against the first engine


def _result_decision(result: RouteResult) -> Decision:
    return result.destination, result.requires_endorsement, result.rule


def compiled_engines(rules: RuleSet, cases: list[CaseFacts]) -> list[Engine]:
    route = rules.route

    def decide(facts: CaseFacts) -> Decision:
        return _result_decision(route(facts))

    engines = [
        Engine(
            COMPILED,
            "RuleSet.route(): RouteResult with explanation, as in production",
            route,
            decide,
            cases,
        )
    ]
    bare = compiled_decision_only(rules)
    if bare is not None:
        engines.append(
            Engine(
                COMPILED_BARE,
                "same compiled tests, no explanation or RouteResult (reads RuleSet internals)",
                bare,
                bare,
                cases,
            )
        )
    return engines


def compiled_decision_only(rules: RuleSet) -> Callable[[CaseFacts], Decision] | None:
    """The compiled tests without the explanation and the `RouteResult`.

    RuleSet has no public entry point for this, so it reads the compiled tables the
    constructor keeps; if their shape changes, the row is left out.
    """
    derived = getattr(rules, "_derived", None)
    route_rules = getattr(rules, "_route", None)
    if not isinstance(derived, list) or not isinstance(route_rules, list):
        return None
    try:
        tables = [
            (table_id, [(value, test) for value, test, _, _ in rs]) for table_id, rs in derived
        ]
        routes = [(test, _decision(r)) for test, _, r in route_rules]
    except (TypeError, ValueError, AttributeError):
        return None
    check = rules.check

    def decide(facts: CaseFacts) -> Decision:
        check(facts)
        ctx = facts_context(facts)
        for table_id, tests in tables:
            ctx[table_id] = tuple(dict.fromkeys(value for value, test in tests if test(ctx)))
        for test, decision in routes:
            if test(ctx):
                return decision
        raise NoMatchingRule("route")

    return decide


def _decision(rule: Rule) -> Decision:
    return rule.then.destination or "", rule.then.requires_endorsement, rule.id


def rule_engine_router(definition: RuleSetDefinition) -> Callable[[dict[str, Any]], Decision]:
    """First match over pre-parsed `rule_engine.Rule`s; collect tables run first."""
    context = rule_engine.Context()

    def parse(rule: Rule) -> Any:
        return rule_engine.Rule(rule_engine_text(rule.when, definition), context=context)

    tables = [
        (t.id, [(r.then.value, parse(r)) for r in t.rules]) for t in definition.derived_tables
    ]
    routes = [(parse(r), _decision(r)) for r in definition.route_table.rules]

    def route(ctx: dict[str, Any]) -> Decision:
        for table_id, rules in tables:
            ctx[table_id] = tuple(dict.fromkeys(v for v, rule in rules if rule.matches(ctx)))
        for rule, decision in routes:
            if rule.matches(ctx):
                return decision
        raise NoMatchingRule("route")

    return route


def json_logic_router(definition: RuleSetDefinition) -> Callable[[dict[str, Any]], Decision]:
    """First match over JSON Logic rules built once; collect tables run first."""
    operations = {**BUILTINS, REGEX_SEARCH: regex_search_operation(definition)}
    tables = [
        (t.id, [(r.then.value, json_logic_rule(r.when, definition)) for r in t.rules])
        for t in definition.derived_tables
    ]
    routes = [
        (json_logic_rule(r.when, definition), _decision(r)) for r in definition.route_table.rules
    ]

    def route(ctx: dict[str, Any]) -> Decision:
        for table_id, rules in tables:
            ctx[table_id] = list(
                dict.fromkeys(v for v, logic in rules if to_bool(jsonLogic(logic, ctx, operations)))
            )
        for logic, decision in routes:
            if to_bool(jsonLogic(logic, ctx, operations)):
                return decision
        raise NoMatchingRule("route")

    return route


def build_engines(rules: RuleSet, cases: list[CaseFacts], progress: Progress) -> list[Engine]:
    definition = rules.definition
    engines = compiled_engines(rules, cases)

    progress.line("building the rule-engine and JSON Logic inputs")
    re_route = rule_engine_router(definition)
    engines.append(
        Engine(
            RULE_ENGINE,
            "generated expressions, parsed once; text: `=~~` (re.search) with the same regex",
            re_route,
            re_route,
            [engine_context(f, lists=False) for f in cases],
        )
    )
    jl_route = json_logic_router(definition)
    engines.append(
        Engine(
            JSON_LOGIC,
            f"generated rules; text: custom `{REGEX_SEARCH}` op running the same compiled regex",
            jl_route,
            jl_route,
            [engine_context(f, lists=True) for f in cases],
        )
    )
    hand = hand_router(definition)
    engines.append(
        Engine(
            HAND,
            "plain ifs, same regexes; gives destination, endorsement, rule id, no explanation",
            hand,
            hand,
            cases,
        )
    )
    return engines


# --- correctness ----------------------------------------------------------------------


def check_agreement(
    engines: Sequence[Engine], cases: Sequence[CaseFacts], limit: int, progress: Progress
) -> Counter[str]:
    """Every engine must decide like the first, or the benchmark exits with status 1.

    All engines are checked on the first `limit` cases (0: all), those quick enough
    (`FULL_CHECK_SECONDS`) on every case. Records each engine's per-case time on the way, to
    judge whether timing it on every case fits the budget. Returns how often each rule routed.
    """
    reference, total = engines[0], len(cases)
    first = min(limit, total) if limit else total
    progress.line(f"checking that the {len(engines)} engines agree")
    started = time.perf_counter()
    expected = [reference.decide(item) for item in reference.inputs]
    reference.estimate_us = (time.perf_counter() - started) / total * 1e6
    reference.checked = total
    for engine in engines[1:]:
        seconds = _check_range(engine, reference, cases, expected, 0, first, progress)
        engine.estimate_us = seconds / first * 1e6
        engine.checked = first
        if first < total and engine.estimate_us * (total - first) / 1e6 <= FULL_CHECK_SECONDS:
            _check_range(engine, reference, cases, expected, first, total, progress)
            engine.checked = total
        progress.line(f"{engine.name} agrees on {_n(engine.checked)} cases")
    return Counter(rule for _, _, rule in expected)


def _check_range(
    engine: Engine,
    reference: Engine,
    cases: Sequence[CaseFacts],
    expected: Sequence[Decision],
    start: int,
    stop: int,
    progress: Progress,
) -> float:
    decide, inputs = engine.decide, engine.inputs
    started = time.perf_counter()
    for i in range(start, stop):
        got = decide(inputs[i])
        if got != expected[i]:
            _disagree(engine, reference, cases[i], i, got, expected[i])
        if i % CHUNK == CHUNK - 1:
            progress.update(f"checking {engine.name}", i + 1, stop)
    return time.perf_counter() - started


def _disagree(
    engine: Engine, reference: Engine, facts: CaseFacts, i: int, got: Decision, want: Decision
) -> None:
    print(
        f"DISAGREEMENT on case {i}: {engine.name} gives {got}, {reference.name} gives {want}\n"
        f"case: {facts.model_dump_json()}",
        file=sys.stderr,
    )
    raise SystemExit(1)


# --- timing ---------------------------------------------------------------------------


def time_engine(engine: Engine, n: int, repeat: int, progress: Progress) -> None:
    """`repeat` passes over the first `n` inputs; only the routing calls are timed."""
    route = engine.route
    engine.timed_cases = n
    for rep in range(1, repeat + 1):
        gc.collect()
        total = 0.0
        for start in range(0, n, CHUNK):
            chunk = engine.inputs[start : min(start + CHUNK, n)]
            t0 = time.perf_counter()
            for item in chunk:
                route(item)
            total += time.perf_counter() - t0
            progress.update(f"{engine.name}, run {rep}/{repeat}", start + len(chunk), n)
        engine.times.append(total)
        progress.line(f"{engine.name}, run {rep}/{repeat}: {total:.3f} s for {_n(n)} cases")


# --- the report -----------------------------------------------------------------------


def _n(value: float) -> str:
    """A count with spaces between thousands: 100 000."""
    return f"{value:,.0f}".replace(",", " ")


def _us(engine: Engine) -> float:
    """Best per-case time in µs."""
    return min(engine.times) / engine.timed_cases * 1e6


def _wrap(text: str, indent: str = "  ", hang: str = "    ") -> list[str]:
    return textwrap.wrap(text, width=100, initial_indent=indent, subsequent_indent=hang)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(engines: Sequence[Engine], n_cases: int, repeat: int, seed: int) -> str:
    by_name = {e.name: e for e in engines}
    compiled, hand, other = by_name[COMPILED], by_name[HAND], by_name[RULE_ENGINE]
    out = [
        f"Routing throughput, rule set “Samverkan Blekinge”: {_n(n_cases)} generated cases "
        f"(seed {seed}); best of {repeat} run{'s' if repeat > 1 else ''}, median alongside",
        "",
    ]
    head = (
        f"{'engine':<30} {'cases':>8} {'total s':>9} {'cases/s':>9} {'µs/case':>9} "
        f"{'median µs':>10} {'vs compiled':>12}"
    )
    out += [head, "-" * len(head)]
    for e in engines:
        us = _us(e)
        median = statistics.median(e.times) / e.timed_cases * 1e6
        mark = "*" if e.timed_cases < n_cases else " "
        out.append(
            f"{e.name:<30} {_n(n_cases):>8} {us * n_cases / 1e6:>8.3f}{mark} {_n(1e6 / us):>9} "
            f"{us:>9.2f} {median:>10.2f} {us / _us(compiled):>11.2f}×"
        )
    for e in engines:
        if e.timed_cases < n_cases:
            out += _wrap(
                f"* {e.name} was timed on the first {_n(e.timed_cases)} cases only; its total is "
                f"its best per-case time × {_n(n_cases)}.",
                indent="",
                hang="  ",
            )

    vs_other = _us(other) / _us(compiled)
    vs_hand = _us(compiled) / _us(hand)
    out += [
        "",
        "Targets (compiled = RuleSet.route with explanation):",
        f"  compiled vs rule-engine:  {vs_other:6.1f}× faster  (target ≥ "
        f"{TARGET_VS_RULE_ENGINE:.0f}×)  {_verdict(vs_other >= TARGET_VS_RULE_ENGINE)}",
        f"  compiled vs hand-written: {vs_hand:6.2f}× slower  (target ≤ "
        f"{TARGET_VS_HAND:.0f}×)   {_verdict(vs_hand <= TARGET_VS_HAND)}",
    ]
    out += _wrap(
        f"for scale: the hand-written chain is {_us(other) / _us(hand):.1f}× faster than "
        "rule-engine; the regular-expression searches, the same in every engine, bound the ratio"
    )

    out += ["", "Rows:"]
    for e in engines:
        out += _wrap(f"{e.name}: {e.note}")
    out += ["", "Notes:"]
    out += _wrap(
        "Only routing is timed. Cases and each engine's input are built before timing: CaseFacts "
        "for compiled and hand-written, which casefold the title and description themselves; a "
        "dict holding the already casefolded text for rule-engine and JSON Logic, so those two "
        "do not pay for casefolding (about 1 µs a case)."
    )
    full = [e.name for e in engines[1:] if e.checked == n_cases]
    partial = [e.checked for e in engines[1:] if e.checked < n_cases]
    agreed = (
        "Before timing, every engine gave the same destination, requires_endorsement and "
        f"rule id as {COMPILED}"
    )
    if partial:
        agreed += f" on the first {_n(min(partial))} cases"
        if full:
            agreed += f", and {', '.join(full)} on all {_n(n_cases)}"
    else:
        agreed += f" on all {_n(n_cases)} cases"
    out += _wrap(agreed + ".")
    return "\n".join(out)


def rule_shares(rules_hit: Counter[str]) -> str:
    total = sum(rules_hit.values())
    return ", ".join(f"{rule} {count / total:.1%}" for rule, count in rules_hit.most_common())


# --- main -----------------------------------------------------------------------------


def _count(text: str) -> int:
    value = int(text.replace("_", "").replace(" ", ""))
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing",
        description="Routing throughput of the default rule set: samverkan's compiled rules "
        "against rule-engine, JSON Logic and a hand-written if-chain.",
    )
    parser.add_argument("--cases", type=_positive, default=100_000, help="cases (100 000)")
    parser.add_argument("--repeat", type=_positive, default=3, help="timed runs per engine (3)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="case generator seed")
    parser.add_argument(
        "--check",
        type=_count,
        default=10_000,
        help="cases every engine must agree on before timing, 0 = all (10 000); "
        "engines quick enough are checked on all cases anyway",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=120.0,
        help="seconds an engine's timed runs may take on all cases before it is timed on "
        "--subset cases instead (120)",
    )
    parser.add_argument(
        "--subset", type=_positive, default=10_000, help="cases timed for a slow engine (10 000)"
    )
    parser.add_argument(
        "--show-rules", action="store_true", help="print the translated rules and exit"
    )
    args = parser.parse_args(argv)

    rules = load_rules()
    definition = rules.definition
    if args.show_rules:
        show_rules(definition)
        return 0

    progress = Progress()
    progress.line(f"generating {_n(args.cases)} cases (seed {args.seed})")
    cases = list(generate_cases(definition, args.cases, args.seed))
    engines = build_engines(rules, cases, progress)
    rules_hit = check_agreement(engines, cases, args.check, progress)

    for engine in engines:
        n = args.cases
        estimate = engine.estimate_us * n * args.repeat / 1e6
        if estimate > args.budget and args.subset < n:
            n = args.subset
            progress.line(
                f"{engine.name}: ~{engine.estimate_us:.0f} µs/case, ~{estimate:.0f} s for "
                f"{args.repeat} runs on every case; timing the first {_n(n)} cases instead"
            )
        time_engine(engine, n, args.repeat, progress)

    print(report(engines, args.cases, args.repeat, args.seed))
    print()
    print("\n".join(_wrap(f"Rules that routed the cases: {rule_shares(rules_hit)}.", "", "  ")))
    return 0


def show_rules(definition: RuleSetDefinition) -> None:
    for table in definition.tables:
        print(f"# table {table.id} (hit policy {table.hit_policy})")
        for r in table.rules:
            print(f"{r.id}\n  rule-engine: {rule_engine_text(r.when, definition)}")
            print(f"  JSON Logic:  {dump(json_logic_rule(r.when, definition))}")


if __name__ == "__main__":
    raise SystemExit(main())

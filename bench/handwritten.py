"""The default routing, written by hand as plain Python `if` statements: the speed limit.

It follows the nine steps of "Routing" in DOMAIN.md, in the order and with the rule ids of
rules/samverkan_blekinge.yaml, and reads the target groups from the text with the same
compiled vocabulary expressions as the rule engine. It decides only: no explanation, no
`RouteResult`, no check of `escalated_from` against the known groups.
"""

from __future__ import annotations

from collections.abc import Callable

from rules.facts import TARGET_GROUPS, CaseFacts
from rules.schema import RuleSetDefinition
from rules.text import compile_vocabulary

Decision = tuple[str, bool, str]  # destination, requires_endorsement, rule id

SAMVERKANSGRUPPER = frozenset({"sg-barn-unga", "sg-vuxna", "sg-aldre"})
_SG = {"barn_unga": "sg-barn-unga", "vuxna": "sg-vuxna", "aldre": "sg-aldre"}
DEVIATION: dict[str, Decision] = {
    g: (sg, False, "avvikelse-" + g.replace("_", "-")) for g, sg in _SG.items()
}
ONE_GROUP: dict[str, Decision] = {
    g: (sg, False, "malgrupp-" + g.replace("_", "-")) for g, sg in _SG.items()
}


def hand_router(definition: RuleSetDefinition) -> Callable[[CaseFacts], Decision]:
    """The if-chain, bound to the vocabularies of `definition`."""
    vocabularies = definition.vocabularies
    lsvo_mandat = compile_vocabulary(vocabularies["lsvo_mandat"]).search
    enbart_kommunerna = compile_vocabulary(vocabularies["enbart_kommunerna"]).search
    group_text = [(g, compile_vocabulary(vocabularies[g]).search) for g in TARGET_GROUPS]

    def groups_of(facts: CaseFacts, text: str) -> list[str]:
        given = facts.target_groups
        if given:
            return [g for g in TARGET_GROUPS if g in given]
        return [g for g, search in group_text if search(text) is not None]

    def route(facts: CaseFacts) -> Decision:
        # 1–2: escalations
        escalated = facts.escalated_from
        if escalated is not None:
            if escalated in SAMVERKANSGRUPPER:
                return "lsvo", False, "oenighet-samverkansgrupp"
            if escalated == "lsvo":
                return "egna-beslutsorgan", False, "oenighet-lsvo"
        # 3: extended resources, decided by LSVO once every organisation has backed it
        if facts.requests_resources:
            return "lsvo", True, "utokade-resurser"
        # 4: LSVO's mandate
        text = f"{facts.title}\n{facts.description}".casefold()
        if facts.county_wide or lsvo_mandat(text) is not None:
            return "lsvo", False, "lsvo-mandat"
        # 5: deviations
        groups: list[str] | None = None
        if facts.deviation:
            if facts.recurring:
                return "lsvo", False, "avvikelse-generell"
            groups = groups_of(facts, text)
            if len(groups) == 1:
                return DEVIATION[groups[0]]
        # 6: the municipalities alone
        if facts.municipalities_only or enbart_kommunerna(text) is not None:
            return "ikf", False, "enbart-kommunerna"
        # 7–8: by target group
        if groups is None:
            groups = groups_of(facts, text)
        if len(groups) >= 2:
            return "beredningsgruppen", False, "flera-malgrupper"
        if groups:
            return ONE_GROUP[groups[0]]
        # 9: manual triage
        return "beredningsgruppen", False, "manuell-beredning"

    return route

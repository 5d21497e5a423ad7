"""Household-count rules for grids.

Published practice: urban grids hold 300–500 households, rural grids 50–100.
Household-linked units (联户单元) are roughly 10–20 households.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geogrid.errors import RuleViolationError


@dataclass(frozen=True)
class Rule:
    """Inclusive household bounds ``[lo, hi]`` for every grid of a partition.

    Examples
    --------
    >>> Rule(50, 100).feasible_k(420)
    range(5, 9)
    """

    lo: int
    hi: int
    name: str = "custom"

    def __post_init__(self) -> None:
        if not (isinstance(self.lo, int) and isinstance(self.hi, int)):
            raise RuleViolationError(f"rule bounds must be integers, got {self.lo!r}, {self.hi!r}")
        if self.lo < 1 or self.hi < self.lo:
            raise RuleViolationError(f"rule bounds must satisfy 1 <= lo <= hi, got [{self.lo}, {self.hi}]")

    def contains(self, households: float) -> bool:
        """True when a grid with ``households`` households is within bounds."""
        return self.lo <= households <= self.hi

    def feasible_k(self, total: int) -> range:
        """The numbers of grids that could hold ``total`` households within bounds (may be empty)."""
        return range(math.ceil(total / self.hi), math.floor(total / self.lo) + 1)


RURAL = Rule(50, 100, "rural")
URBAN = Rule(300, 500, "urban")
HOUSEHOLD_LINKED = Rule(10, 20, "linked")

_NAMED = {r.name: r for r in (RURAL, URBAN, HOUSEHOLD_LINKED)}


def resolve_rule(rule: Rule | str | tuple[int, int]) -> Rule:
    """Turn ``"rural"``, ``"urban"``, ``"linked"``, ``(lo, hi)`` or a :class:`Rule` into a Rule.

    Examples
    --------
    >>> resolve_rule("urban")
    Rule(lo=300, hi=500, name='urban')
    >>> resolve_rule((10, 20)).hi
    20
    """
    if isinstance(rule, Rule):
        return rule
    if isinstance(rule, str):
        try:
            return _NAMED[rule]
        except KeyError:
            raise RuleViolationError(
                f"unknown rule {rule!r}; use one of {sorted(_NAMED)} or (lo, hi)"
            ) from None
    if isinstance(rule, tuple | list) and len(rule) == 2:
        return Rule(int(rule[0]), int(rule[1]))
    raise RuleViolationError(f"cannot read a rule from {rule!r}")

"""Parse lme4-style model formulas into a :class:`ModelSpec`.

Supported syntax (a subset of R's formula language, as lme4 reads it)::

    y ~ a * b + c + a:c - b + (1 | g1) + (1 | g2) + (1 + x | g3) + (x || g4) + (1 | g1:g2)

* ``+`` adds terms, ``-`` removes them, ``*`` crosses (``a*b`` = ``a + b + a:b``), ``:`` is the
  interaction, ``/`` nests (``a/b`` = ``a + a:b``), ``(a + b)^2`` expands to all two-way terms,
  parentheses group.
* ``1`` keeps the intercept, ``0`` or ``-1`` drops it.
* ``(lhs | g)`` adds random effects for the terms of ``lhs`` by grouping factor ``g`` (an
  implicit intercept as in lme4; ``0 +`` removes it); ``(lhs || g)`` makes them uncorrelated;
  ``g1:g2`` groups by the combination and ``(1 | g1/g2)`` means ``(1 | g1) + (1 | g1:g2)``.

Terms are ordered as R orders them: by interaction order (main effects first), then by first
appearance; the variables inside an interaction are ordered by their first appearance in the
formula, so the labels come out as lme4 prints them (``refused:should_refuse``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ModelSpec", "RandomTerm", "parse_formula"]

Term = frozenset  # a fixed-effect term: the set of variables it multiplies; frozenset() = intercept


@dataclass(frozen=True)
class RandomTerm:
    """One ``(lhs | group)`` block: ``group`` is a tuple of variables (``g1:g2`` -> two)."""

    group: tuple[str, ...]
    intercept: bool
    slopes: tuple[str, ...]  # fixed-term labels of the random slopes, in formula order
    correlated: bool = True

    @property
    def name(self) -> str:
        return ":".join(self.group)

    @property
    def intercept_only(self) -> bool:
        return self.intercept and not self.slopes


@dataclass(frozen=True)
class ModelSpec:
    """A parsed formula: outcome, ordered fixed terms, intercept flag, random terms."""

    formula: str
    outcome: str
    intercept: bool
    terms: tuple[tuple[str, ...], ...]  # each term: its variables in formula order
    random: tuple[RandomTerm, ...]
    variables: tuple[str, ...] = field(default=())  # every data column the formula names

    @property
    def term_labels(self) -> list[str]:
        return [":".join(t) for t in self.terms]

    @property
    def random_intercepts_only(self) -> bool:
        return all(r.intercept_only for r in self.random)


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?)|(?P<name>[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`)"
    r"|(?P<op>\|\||[~+\-*/:^()|]))"
)


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse formula near {text[pos:pos + 20]!r}")
        tok = m.group("num") or m.group("name") or m.group("op")
        if tok.startswith("`"):
            tok = tok[1:-1]
        tokens.append(tok)
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over R's precedence: ``^`` > ``:`` > ``*``, ``/`` > ``+``, ``-``.

    Every sub-expression evaluates to ``(terms, intercept)`` where ``terms`` is an ordered list
    of frozensets and ``intercept`` is True/False when the expression sets it, None otherwise.
    Random-effect blocks are collected on the side; they are only legal at the top level.
    """

    def __init__(self, tokens: list[str], order: dict[str, int]):
        self.toks = tokens
        self.i = 0
        self.order = order
        self.random: list[RandomTerm] = []
        self.depth = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"formula: expected {expected or 'a term'}, found {tok!r}")
        self.i += 1
        return tok

    def _see(self, name: str) -> None:
        self.order.setdefault(name, len(self.order))

    # sum := ['-'] prod (('+'|'-') prod)*
    def parse_sum(self) -> tuple[list[Term], bool | None]:
        terms: list[Term] = []
        intercept: bool | None = None
        sign = "+"
        if self.peek() == "-":
            self.take()
            sign = "-"
        while True:
            part, icpt = self.parse_prod()
            if sign == "+":
                terms += [t for t in part if t not in terms]
                if icpt is not None:
                    intercept = icpt
            else:
                terms = [t for t in terms if t not in part]
                if icpt is not None:
                    intercept = not icpt
            if self.peek() in ("+", "-"):
                sign = self.take()
            else:
                return terms, intercept

    def parse_prod(self) -> tuple[list[Term], bool | None]:
        left, icpt = self.parse_inter()
        while self.peek() in ("*", "/"):
            op = self.take()
            right, _ = self.parse_inter()
            if op == "*":
                left = _union(left, right, _cross(left, right))
            else:  # a/b = a + (all variables of a):b
                whole = frozenset().union(*left) if left else frozenset()
                left = _union(left, _cross([whole], right))
        return left, icpt

    def parse_inter(self) -> tuple[list[Term], bool | None]:
        left, icpt = self.parse_power()
        while self.peek() == ":":
            self.take()
            right, _ = self.parse_power()
            left = _cross(left, right)
        return left, icpt

    def parse_power(self) -> tuple[list[Term], bool | None]:
        base, icpt = self.parse_atom()
        if self.peek() == "^":
            self.take()
            power = int(float(self.take()))
            out = base
            for _ in range(power - 1):
                out = _union(out, base, _cross(out, base))
            return out, icpt
        return base, icpt

    def parse_atom(self) -> tuple[list[Term], bool | None]:
        tok = self.take()
        if tok == "(":
            start = self.i
            self.depth += 1
            terms, icpt = self.parse_sum()
            self.depth -= 1
            if self.peek() in ("|", "||"):
                return self._random_block(start)
            self.take(")")
            return terms, icpt
        if re.fullmatch(r"\d+(\.\d*)?", tok):
            if float(tok) not in (0.0, 1.0):
                raise ValueError(f"formula: unexpected number {tok}")
            return [], float(tok) == 1.0
        if self.peek() == "(":
            raise ValueError(f"formula: function calls such as {tok}(...) are not supported; "
                             "add a transformed column to the data instead")
        self._see(tok)
        return [frozenset([tok])], None

    def _random_block(self, start: int) -> tuple[list[Term], bool | None]:
        if self.depth != 0:
            raise ValueError("formula: random-effect terms (x | g) must be at the top level")
        # Re-parse the left side on its own so that its intercept defaults to lme4's (present).
        sub = _Parser(self.toks[start:self.i], self.order)
        lhs, icpt = sub.parse_sum()
        bar = self.take()
        group_vars: list[list[str]] = [[]]
        nest = []
        while self.peek() not in (")", None):
            tok = self.take()
            if tok == ":":
                continue
            if tok == "/":
                nest.append(group_vars[-1])
                group_vars.append(list(group_vars[-1]))
                continue
            if not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*|[^()|~+\-*/:^]+", tok):
                raise ValueError(f"formula: bad grouping factor {tok!r}")
            self._see(tok)
            group_vars[-1].append(tok)
        self.take(")")
        intercept = True if icpt is None else icpt
        slopes = tuple(_label(t, self.order) for t in _r_order(lhs, self.order))
        for g in group_vars:
            if not g:
                raise ValueError("formula: empty grouping factor in random term")
            self.random.append(RandomTerm(tuple(g), intercept, slopes, correlated=bar == "|"))
        return [], None


def _cross(a: list[Term], b: list[Term]) -> list[Term]:
    out: list[Term] = []
    for x in a:
        for y in b:
            t = x | y
            if t not in out:
                out.append(t)
    return out


def _union(*parts: list[Term]) -> list[Term]:
    out: list[Term] = []
    for part in parts:
        out += [t for t in part if t not in out]
    return out


def _r_order(terms: list[Term], order: dict[str, int]) -> list[tuple[str, ...]]:
    # R: stable sort by interaction order; variables inside a term by first appearance.
    ordered = sorted(enumerate(terms), key=lambda it: (len(it[1]), it[0]))
    return [tuple(sorted(t, key=order.__getitem__)) for _, t in ordered if t]


def _label(t: tuple[str, ...], order: dict[str, int]) -> str:
    return ":".join(t)


def parse_formula(formula: str) -> ModelSpec:
    """Parse ``formula`` (lme4 syntax) into a :class:`ModelSpec`.

    Raises ``ValueError`` with a readable reason on anything it does not understand.
    """
    if formula.count("~") != 1:
        raise ValueError("formula must have exactly one '~' (outcome ~ predictors)")
    lhs, rhs = formula.split("~")
    outcome = lhs.strip().strip("`")
    if not re.fullmatch(r"[^\s~+*/:^()|]+", outcome):
        raise ValueError(f"formula: the outcome must be one column name, got {lhs.strip()!r}")
    order: dict[str, int] = {outcome: 0}
    parser = _Parser(_tokenize(rhs), order)
    if parser.peek() is None:
        raise ValueError("formula: nothing on the right of '~'")
    terms, icpt = parser.parse_sum()
    if parser.peek() is not None:
        raise ValueError(f"formula: unexpected {parser.peek()!r}")
    names = [r.name for r in parser.random]
    if len(set(names)) != len(names):
        raise ValueError("formula: a grouping factor appears in more than one random term")
    variables = [v for v in sorted(order, key=order.__getitem__)]
    for r in parser.random:
        for s in r.slopes:
            for v in s.split(":"):
                if v not in variables:
                    variables.append(v)
    return ModelSpec(
        formula=formula.strip(),
        outcome=outcome,
        intercept=True if icpt is None else icpt,
        terms=tuple(_r_order(terms, order)),
        random=tuple(parser.random),
        variables=tuple(variables),
    )

"""The safe condition language of node/graph XML: `arch`/`os`/`release` lists and `cond`.

Rocks built a Python expression from these attributes and eval()'d it; here `cond` is tokenized and
parsed by recursive descent into an immutable AST that only knows names, literals, comparisons,
`in`, `is None` and `and`/`or`/`not`, so an XML file can never run code on the frontend.
"""

from __future__ import annotations

import abc
import enum
import functools
import keyword
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from rocks.errors import RocksError, SourceLocation

__all__ = [
    "TRUE",
    "And",
    "CmpOp",
    "Compare",
    "Condition",
    "Const",
    "Expr",
    "In",
    "IsNone",
    "Name",
    "Not",
    "Or",
    "coerce",
    "parse_condition",
    "parse_expr",
]

# ---------------------------------------------------------------------------------------------
# Values


_TRUE_WORDS = frozenset({"on", "true", "yes", "y"})
_FALSE_WORDS = frozenset({"off", "false", "no", "n"})


@functools.lru_cache(maxsize=4096)
def coerce(value: str | None) -> object:
    """An attribute string as Rocks' `_CondEnv` saw it: None, a bool, an int, a float or itself."""
    if value is None:
        return None
    word = value.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    # Python 3 reads "7_000" as 7000; Rocks ran on Python 2, which did not.
    if "_" not in value:
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _equal(a: object, b: object) -> bool:
    # Different types are simply unequal (Python 3 would agree except across numbers, where
    # True == 1 and 7 == 7.0 hold and are kept).
    if a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _orderable(a: object, b: object) -> bool:
    # Rocks ran on Python 2, which ordered anything against anything (None < 3 was True). We make
    # ordering across types False instead, so that a missing attribute never passes a version test
    # such as `rocks_version_major >= 6`; Python 3 would raise TypeError here.
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str) and isinstance(b, str)


# ---------------------------------------------------------------------------------------------
# The AST


class CmpOp(enum.StrEnum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


_ORDERING: dict[CmpOp, Callable[[Any, Any], bool]] = {
    CmpOp.LT: operator.lt,
    CmpOp.LE: operator.le,
    CmpOp.GT: operator.gt,
    CmpOp.GE: operator.ge,
}

# Printing precedence: a child printed below its parent's minimum gets parentheses.
_P_OR, _P_AND, _P_NOT, _P_CMP, _P_ATOM = 1, 2, 3, 4, 5


class Expr(abc.ABC):
    """A node of a parsed `cond`; `str()` gives a normalised form that parses back to it."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def precedence(self) -> int: ...

    @abc.abstractmethod
    def names(self) -> frozenset[str]:
        """The attribute names this expression reads."""

    @abc.abstractmethod
    def evaluate(self, env: Mapping[str, str]) -> object:
        """The value of the expression for these host attributes (use its truthiness)."""


def _wrap(node: Expr, minimum: int) -> str:
    return str(node) if node.precedence >= minimum else f"({node})"


@dataclass(frozen=True, slots=True)
class Name(Expr):
    name: str

    @property
    def precedence(self) -> int:
        return _P_ATOM

    def names(self) -> frozenset[str]:
        return frozenset((self.name,))

    def evaluate(self, env: Mapping[str, str]) -> object:
        return coerce(env.get(self.name))

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Const(Expr):
    """A literal: str, int, float, bool, None, or (only right of `in`) a tuple of those."""

    value: object

    @property
    def precedence(self) -> int:
        return _P_ATOM

    def names(self) -> frozenset[str]:
        return frozenset()

    def evaluate(self, env: Mapping[str, str]) -> object:
        return self.value

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr

    @property
    def precedence(self) -> int:
        return _P_NOT

    def names(self) -> frozenset[str]:
        return self.operand.names()

    def evaluate(self, env: Mapping[str, str]) -> object:
        return not self.operand.evaluate(env)

    def __str__(self) -> str:
        # `not (version >= 7)` reads better than the equivalent `not version >= 7`.
        return f"not {_wrap(self.operand, _P_NOT if isinstance(self.operand, Not) else _P_ATOM)}"


@dataclass(frozen=True, slots=True)
class And(Expr):
    items: tuple[Expr, ...]

    @property
    def precedence(self) -> int:
        return _P_AND

    def names(self) -> frozenset[str]:
        return frozenset().union(*(item.names() for item in self.items))

    def evaluate(self, env: Mapping[str, str]) -> object:
        return all(item.evaluate(env) for item in self.items)

    def __str__(self) -> str:
        return " and ".join(_wrap(item, _P_AND + 1) for item in self.items)


@dataclass(frozen=True, slots=True)
class Or(Expr):
    items: tuple[Expr, ...]

    @property
    def precedence(self) -> int:
        return _P_OR

    def names(self) -> frozenset[str]:
        return frozenset().union(*(item.names() for item in self.items))

    def evaluate(self, env: Mapping[str, str]) -> object:
        return any(item.evaluate(env) for item in self.items)

    def __str__(self) -> str:
        return " or ".join(_wrap(item, _P_OR + 1) for item in self.items)


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    op: CmpOp
    left: Expr
    right: Expr

    @property
    def precedence(self) -> int:
        return _P_CMP

    def names(self) -> frozenset[str]:
        return self.left.names() | self.right.names()

    def evaluate(self, env: Mapping[str, str]) -> object:
        a = self.left.evaluate(env)
        b = self.right.evaluate(env)
        if self.op is CmpOp.EQ:
            return _equal(a, b)
        if self.op is CmpOp.NE:
            return not _equal(a, b)
        return _orderable(a, b) and _ORDERING[self.op](a, b)

    def __str__(self) -> str:
        return f"{_wrap(self.left, _P_ATOM)} {self.op} {_wrap(self.right, _P_ATOM)}"


@dataclass(frozen=True, slots=True)
class In(Expr):
    """`left in right`: membership in a tuple, or substring of a string; otherwise false."""

    left: Expr
    right: Expr
    negated: bool = False

    @property
    def precedence(self) -> int:
        return _P_CMP

    def names(self) -> frozenset[str]:
        return self.left.names() | self.right.names()

    def evaluate(self, env: Mapping[str, str]) -> object:
        needle = self.left.evaluate(env)
        haystack = self.right.evaluate(env)
        if isinstance(haystack, tuple):
            found = any(_equal(needle, item) for item in haystack)
        else:
            found = isinstance(haystack, str) and isinstance(needle, str) and needle in haystack
        return found != self.negated

    def __str__(self) -> str:
        op = "not in" if self.negated else "in"
        return f"{_wrap(self.left, _P_ATOM)} {op} {_wrap(self.right, _P_ATOM)}"


@dataclass(frozen=True, slots=True)
class IsNone(Expr):
    operand: Expr
    negated: bool = False

    @property
    def precedence(self) -> int:
        return _P_CMP

    def names(self) -> frozenset[str]:
        return self.operand.names()

    def evaluate(self, env: Mapping[str, str]) -> object:
        return (self.operand.evaluate(env) is None) != self.negated

    def __str__(self) -> str:
        return f"{_wrap(self.operand, _P_ATOM)} is {'not ' if self.negated else ''}None"


# ---------------------------------------------------------------------------------------------
# Tokenizer


class _Kind(enum.StrEnum):
    NAME = "name"
    KEYWORD = "keyword"
    STRING = "string"
    NUMBER = "number"
    OP = "op"
    END = "end"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str  # as written (strings with their quotes)
    pos: int  # 0-based offset into the condition text
    value: object = None  # str/int/float for STRING and NUMBER

    def describe(self) -> str:
        if self.kind is _Kind.END:
            return "end of condition"
        if self.kind is _Kind.STRING:
            return f"string {self.text}"
        return f"'{self.text}'"

    def is_op(self, text: str) -> bool:
        return self.kind is _Kind.OP and self.text == text

    def is_keyword(self, text: str) -> bool:
        return self.kind is _Kind.KEYWORD and self.text == text


_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "True", "False", "None"})
# Any other Python keyword (lambda, if, import, ...) is refused rather than read as a name.
_RESERVED = frozenset(keyword.kwlist) - _KEYWORDS
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NUMBER_CHARS = 40  # Python refuses int() of over 4300 digits; no condition needs 40
MAX_DEPTH = 64  # nested parentheses and `not`s (the parser recurses once per level)
_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]*")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", ".", "-")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
_HINT = (
    "a condition may use attribute names, 'string' and number literals, True/False/None, "
    "== != < <= > >=, in, not in, is None, is not None, and, or, not, and parentheses"
)


def _fail(text: str, problem: str, location: SourceLocation | None) -> NoReturn:
    shown = text if len(text) <= 100 else text[:97] + "..."
    raise RocksError.of("cond-syntax", f'bad condition "{shown}": {problem}', location, _HINT)


def _tokenize(text: str, location: SourceLocation | None) -> list[_Token]:
    tokens: list[_Token] = []
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        if match := _IDENT.match(text, pos):
            word = match.group()
            if word in _RESERVED:
                _fail(text, f"keyword '{word}' is not allowed at column {pos + 1}", location)
            kind = _Kind.KEYWORD if word in _KEYWORDS else _Kind.NAME
            tokens.append(_Token(kind, word, pos))
            pos = match.end()
        elif match := _NUMBER.match(text, pos):
            tail = _NUMBER_TAIL.match(text, match.end())
            if tail and tail.group():
                word = text[pos : tail.end()]
                _fail(text, f"invalid number '{word}' at column {pos + 1}", location)
            word = match.group()
            number: int | float
            if len(word) > MAX_NUMBER_CHARS:
                _fail(text, f"number at column {pos + 1} is longer than {MAX_NUMBER_CHARS} "
                      "characters", location)
            if word.isdigit():
                number = int(word)
            else:
                number = float(word)
                if number in (float("inf"), float("-inf")):
                    _fail(text, f"number '{word}' is too large at column {pos + 1}", location)
            tokens.append(_Token(_Kind.NUMBER, word, pos, number))
            pos = match.end()
        elif char in "'\"":
            pos = _string(text, pos, tokens, location)
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
            if op is None:
                problem = f"unexpected '{char}' at column {pos + 1}"
                if char == "=":
                    problem += " (did you mean '=='?)"
                _fail(text, problem, location)
            tokens.append(_Token(_Kind.OP, op, pos))
            pos += len(op)
    tokens.append(_Token(_Kind.END, "", end))
    return tokens


def _string(text: str, start: int, tokens: list[_Token], location: SourceLocation | None) -> int:
    """Scan the string literal opening at `start`, append its token, return the offset after it."""
    quote = text[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == quote:
            tokens.append(_Token(_Kind.STRING, text[start : pos + 1], start, "".join(chars)))
            return pos + 1
        if char == "\\" and pos + 1 < len(text):
            escaped = text[pos + 1]
            # Unknown escapes keep their backslash, as in Python.
            chars.append(_ESCAPES.get(escaped, "\\" + escaped))
            pos += 2
            continue
        chars.append(char)
        pos += 1
    _fail(text, f"unterminated string at column {start + 1}", location)


# ---------------------------------------------------------------------------------------------
# Parser


_CMP_OPS = {op.value: op for op in CmpOp}


class _Parser:
    """Recursive descent with Python's precedence: or < and < not < comparison."""

    def __init__(self, text: str, location: SourceLocation | None) -> None:
        self.text = text
        self.location = location
        self.tokens = _tokenize(text, location)
        self.index = 0
        self.depth = 0

    def nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nested more than {MAX_DEPTH} levels deep", token)

    @property
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind is not _Kind.END:
            self.index += 1
        return token

    def fail(self, problem: str, token: _Token) -> NoReturn:
        _fail(self.text, f"{problem} at column {token.pos + 1}", self.location)

    def unexpected(self, token: _Token, expected: str = "") -> NoReturn:
        suffix = f", expected {expected}" if expected else ""
        _fail(
            self.text,
            f"unexpected {token.describe()} at column {token.pos + 1}{suffix}",
            self.location,
        )

    def parse(self) -> Expr:
        if self.peek.kind is _Kind.END:
            _fail(self.text, "empty condition", self.location)
        expr = self.or_expr()
        if self.peek.kind is not _Kind.END:
            self.unexpected(self.peek)
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.peek.is_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(_flatten(Or, items))

    def and_expr(self) -> Expr:
        items = [self.not_expr()]
        while self.peek.is_keyword("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(_flatten(And, items))

    def not_expr(self) -> Expr:
        if self.peek.is_keyword("not"):
            self.nest(self.advance())
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        return self.comparison()

    def _at_comparison(self) -> bool:
        token = self.peek
        if token.kind is _Kind.OP:
            return token.text in _CMP_OPS
        if token.is_keyword("not"):
            return self.tokens[self.index + 1].is_keyword("in")
        return token.is_keyword("in") or token.is_keyword("is")

    def comparison(self) -> Expr:
        left = self.operand()
        if not self._at_comparison():
            return left
        token = self.advance()
        node: Expr
        if token.kind is _Kind.OP:
            node = Compare(_CMP_OPS[token.text], left, self.operand())
        elif token.text == "is":
            negated = self.peek.is_keyword("not")
            if negated:
                self.advance()
            if not self.peek.is_keyword("None"):
                self.unexpected(self.peek, "None")
            self.advance()
            node = IsNone(left, negated)
        else:
            negated = token.text == "not"
            if negated:
                self.advance()  # the `in` of `not in`
            node = In(left, self.in_operand(), negated)
        if self._at_comparison():
            following = self.peek
            word = "not in" if following.is_keyword("not") else following.text
            problem = f"chained comparison '{word}' at column {following.pos + 1} is not supported"
            _fail(self.text, f"{problem} (combine comparisons with 'and')", self.location)
        return node

    def operand(self) -> Expr:
        token = self.peek
        node: Expr
        if token.kind is _Kind.NAME:
            self.advance()
            node = Name(token.text)
        elif token.is_op("("):
            self.nest(self.advance())
            if self.peek.is_op(")"):
                self.fail("empty parentheses", token)
            node = self.or_expr()
            if self.peek.is_op(","):
                self.fail("a tuple is only allowed after 'in'", token)
            self.expect(")")
            self.depth -= 1
        elif token.is_op("["):
            self.fail("a list is only allowed after 'in'", token)
        else:
            node = Const(self.literal("a value"))
        self.refuse_suffix()
        return node

    def in_operand(self) -> Expr:
        token = self.peek
        node: Expr
        if token.kind is _Kind.NAME:
            self.advance()
            node = Name(token.text)
        elif token.kind is _Kind.STRING:
            self.advance()
            node = Const(token.value)
        elif token.is_op("(") or token.is_op("["):
            node = self.sequence()
        else:
            self.unexpected(token, "a string, tuple, list or name")
        self.refuse_suffix()
        return node

    def sequence(self) -> Const:
        opening = self.advance()
        close = ")" if opening.text == "(" else "]"
        if self.peek.is_op(close):
            self.fail("empty parentheses" if close == ")" else "empty list", opening)
        items: list[object] = []
        comma = False
        while True:
            first = self.peek
            items.append(self.literal("a literal"))
            if self.peek.is_op(","):
                comma = True
                self.advance()
                if self.peek.is_op(close):
                    break
            elif self.peek.is_op(close):
                break
            else:
                self.unexpected(self.peek, f"',' or '{close}'")
        self.advance()
        if close == ")" and not comma:
            # `x in ('abc')` is a substring test, as in Python: parentheses alone make no tuple.
            if not isinstance(items[0], str):
                self.unexpected(first, "a string, tuple, list or name")
            return Const(items[0])
        return Const(tuple(items))

    def literal(self, expected: str) -> object:
        token = self.peek
        if token.kind in (_Kind.STRING, _Kind.NUMBER):
            self.advance()
            return token.value
        if token.kind is _Kind.KEYWORD and token.text in ("True", "False", "None"):
            self.advance()
            return {"True": True, "False": False, "None": None}[token.text]
        if token.is_op("-"):
            self.advance()
            number = self.peek
            if number.kind is not _Kind.NUMBER:
                self.unexpected(number, "a number")
            self.advance()
            assert isinstance(number.value, int | float)
            return -number.value
        self.unexpected(token, expected)

    def refuse_suffix(self) -> None:
        token = self.peek
        if token.is_op("("):
            self.fail("function call is not allowed", token)
        if token.is_op("."):
            self.fail("attribute access is not allowed", token)
        if token.is_op("["):
            self.fail("subscript is not allowed", token)

    def expect(self, text: str) -> None:
        if not self.peek.is_op(text):
            self.unexpected(self.peek, f"'{text}'")
        self.advance()


def _flatten(kind: type[And] | type[Or], items: list[Expr]) -> tuple[Expr, ...]:
    # `(a and b) and c` is one conjunction, so that str() output parses back to an equal tree.
    out: list[Expr] = []
    for item in items:
        if isinstance(item, kind):
            out.extend(item.items)
        else:
            out.append(item)
    return tuple(out)


def parse_expr(text: str, location: SourceLocation | None = None) -> Expr:
    """Parse a `cond` expression; columns in error messages count from 1 in `text` as given."""
    return _Parser(text, location).parse()


# ---------------------------------------------------------------------------------------------
# Conditions


@dataclass(frozen=True, slots=True)
class Condition:
    """The AND of an element's `arch`, `os`, `release` lists (each OR-ed) and its `cond`.

    A list compares the host attribute's raw string for equality with each item (Rocks compared
    the coerced value with a string literal, so `release="7"` could never match; we do not copy
    that). An empty tuple is a list that nothing satisfies (the result of intersecting two lists).
    """

    arch: tuple[str, ...] | None = None
    os: tuple[str, ...] | None = None
    release: tuple[str, ...] | None = None
    expr: Expr | None = None
    source: str = ""

    def __str__(self) -> str:
        return self.source or "true"

    @property
    def is_true(self) -> bool:
        return self.arch is None and self.os is None and self.release is None and not self.expr

    def names(self) -> frozenset[str]:
        listed = {
            name
            for name, values in (("arch", self.arch), ("os", self.os), ("release", self.release))
            if values is not None
        }
        return frozenset(listed) | (self.expr.names() if self.expr else frozenset())

    def evaluate(self, attrs: Mapping[str, str]) -> bool:
        if self.arch is not None and attrs.get("arch") not in self.arch:
            return False
        if self.os is not None and attrs.get("os") not in self.os:
            return False
        if self.release is not None and attrs.get("release") not in self.release:
            return False
        return self.expr is None or bool(self.expr.evaluate(attrs))

    def and_(self, other: Condition | None) -> Condition:
        """Both conditions must hold: lists intersect, expressions are AND-ed."""
        if other is None or other.is_true:
            return self
        if self.is_true:
            return other
        expr: Expr | None
        if self.expr is None or other.expr is None:
            expr = self.expr or other.expr
        else:
            expr = And(_flatten(And, [self.expr, other.expr]))
        return Condition(
            arch=_intersect(self.arch, other.arch),
            os=_intersect(self.os, other.os),
            release=_intersect(self.release, other.release),
            expr=expr,
            source=f"{self.source} and {other.source}",
        )


def _intersect(
    mine: tuple[str, ...] | None, theirs: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    if mine is None:
        return theirs
    if theirs is None:
        return mine
    return tuple(value for value in mine if value in theirs)


TRUE = Condition()


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(item.strip() for item in value.split(","))
    # Empty items (`arch="i386,"`) are dropped; a list with nothing left constrains nothing.
    return tuple(item for item in items if item) or None


def parse_condition(
    *,
    arch: str | None = None,
    os: str | None = None,
    release: str | None = None,
    cond: str | None = None,
    location: SourceLocation | None = None,
) -> Condition | None:
    """The condition of one element's attributes, or None when none of them says anything."""
    lists = {"arch": _split(arch), "os": _split(os), "release": _split(release)}
    expr = parse_expr(cond, location) if cond is not None and cond.strip() else None
    if expr is None and all(values is None for values in lists.values()):
        return None
    parts = [f'{name}="{",".join(values)}"' for name, values in lists.items() if values]
    if cond is not None and expr is not None:
        parts.append(f'cond="{cond.strip()}"')
    return Condition(
        arch=lists["arch"],
        os=lists["os"],
        release=lists["release"],
        expr=expr,
        source=" ".join(parts),
    )

"""The rule language of tags and segments: a small, safe expression language compiled to SQL.

    recency_days > 90 and orders_180d >= 2
    city_tier in ('一线', '新一线') and not (gender = '女')
    age between 26 and 35 or occupation is null
    monetary_180d / nullif(orders_180d, 0) >= 2000
    活跃度 = '高活跃'                        -- a tag is a field too

Parsed by hand into a tree, checked against the known fields, and compiled to SQL with every
identifier quoted and every literal escaped: nothing a user writes is ever evaluated as code.
Errors carry the column of the problem so callers can point at file:line:column.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from portrait.errors import ConfigError

KEYWORDS = {"and", "or", "not", "in", "between", "is", "null", "true", "false"}
FUNCTIONS = {"coalesce": (1, 9), "abs": (1, 1), "round": (1, 2), "nullif": (2, 2), "lower": (1, 1), "length": (1, 1)}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<op><=|>=|<>|!=|==|=|<|>|\+|-|\*|/|%|\(|\)|,)
  | (?P<ident>[A-Za-z_\u4e00-\u9fff\u3400-\u4dbf][A-Za-z0-9_\u4e00-\u9fff\u3400-\u4dbf]*)
    """,
    re.VERBOSE,
)


class RuleError(ConfigError):
    """A rule that does not parse or names an unknown field; ``column`` is 1-based within the rule."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column
        self.problem = message


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split a rule into tokens; an unknown character raises RuleError at its column."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise RuleError(f"unexpected character '{text[pos]}'", pos + 1)
        kind = m.lastgroup or ""
        if kind != "ws":
            value = m.group()
            if kind == "ident" and value.lower() in KEYWORDS:
                kind, value = "kw", value.lower()
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


@dataclass
class Node:
    """A parsed expression: ``op`` names the node kind; ``args`` its children or value."""

    op: str
    args: tuple
    pos: int


class Parser:
    """Recursive-descent parser for the rule language."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        tok = self.peek()
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, text: str, what: str) -> Token:
        tok = self.accept(kind, text)
        if tok is None:
            got = self.peek()
            shown = got.text or "the end of the rule"
            raise RuleError(f"expected {what} but found '{shown}'", got.pos + 1)
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise RuleError("the rule is empty", 1)
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise RuleError(f"unexpected '{tok.text}' (missing 'and'/'or'?)", tok.pos + 1)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while tok := self.accept("kw", "or"):
            node = Node("or", (node, self.and_()), tok.pos)
        return node

    def and_(self) -> Node:
        node = self.not_()
        while tok := self.accept("kw", "and"):
            node = Node("and", (node, self.not_()), tok.pos)
        return node

    def not_(self) -> Node:
        if tok := self.accept("kw", "not"):
            return Node("not", (self.not_(),), tok.pos)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.sum_()
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("=", "==", "!=", "<>", "<", "<=", ">", ">="):
            self.take()
            op = {"==": "=", "!=": "<>"}.get(tok.text, tok.text)
            return Node("cmp", (op, left, self.sum_()), tok.pos)
        negate = False
        if tok.kind == "kw" and tok.text == "not" and self.tokens[self.i + 1].text in ("in", "between"):
            self.take()
            negate = True
            tok = self.peek()
        if self.accept("kw", "in"):
            self.expect("op", "(", "'(' after 'in'")
            items = [self.sum_()]
            while self.accept("op", ","):
                items.append(self.sum_())
            self.expect("op", ")", "')' to close the list")
            node = Node("in", (left, tuple(items)), tok.pos)
            return Node("not", (node,), tok.pos) if negate else node
        if self.accept("kw", "between"):
            low = self.sum_()
            self.expect("kw", "and", "'and' in 'between … and …'")
            node = Node("between", (left, low, self.sum_()), tok.pos)
            return Node("not", (node,), tok.pos) if negate else node
        if self.accept("kw", "is"):
            is_not = bool(self.accept("kw", "not"))
            self.expect("kw", "null", "'null' after 'is'")
            return Node("isnull", (left, is_not), tok.pos)
        return left

    def sum_(self) -> Node:
        node = self.term()
        while (tok := self.peek()).kind == "op" and tok.text in ("+", "-"):
            self.take()
            node = Node("arith", (tok.text, node, self.term()), tok.pos)
        return node

    def term(self) -> Node:
        node = self.unary()
        while (tok := self.peek()).kind == "op" and tok.text in ("*", "/", "%"):
            self.take()
            node = Node("arith", (tok.text, node, self.unary()), tok.pos)
        return node

    def unary(self) -> Node:
        if tok := self.accept("op", "-"):
            return Node("neg", (self.unary(),), tok.pos)
        return self.atom()

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "number":
            return Node("num", (tok.text,), tok.pos)
        if tok.kind == "string":
            quote = tok.text[0]
            return Node("str", (tok.text[1:-1].replace(quote * 2, quote),), tok.pos)
        if tok.kind == "kw" and tok.text in ("true", "false", "null"):
            return Node("const", (tok.text,), tok.pos)
        if tok.kind == "op" and tok.text == "(":
            node = self.or_()
            self.expect("op", ")", "')'")
            return node
        if tok.kind == "ident":
            if self.accept("op", "("):
                name = tok.text.lower()
                if name not in FUNCTIONS:
                    raise RuleError(
                        f"unknown function '{tok.text}' (known: {', '.join(sorted(FUNCTIONS))})", tok.pos + 1
                    )
                args = []
                if not self.accept("op", ")"):
                    args.append(self.or_())
                    while self.accept("op", ","):
                        args.append(self.or_())
                    self.expect("op", ")", "')' to close the call")
                low, high = FUNCTIONS[name]
                if not low <= len(args) <= high:
                    raise RuleError(f"{name}() takes {low}–{high} arguments, got {len(args)}", tok.pos + 1)
                return Node("call", (name, tuple(args)), tok.pos)
            return Node("field", (tok.text,), tok.pos)
        shown = tok.text or "the end of the rule"
        raise RuleError(f"expected a value or field but found '{shown}'", tok.pos + 1)


def parse(text: str) -> Node:
    """Parse a rule into a tree (RuleError with a column on failure)."""
    return Parser(text).parse()


def fields_of(node: Node) -> set[str]:
    """Every field name a rule reads."""
    if node.op == "field":
        return {node.args[0]}
    found: set[str] = set()
    for arg in node.args:
        if isinstance(arg, Node):
            found |= fields_of(arg)
        elif isinstance(arg, tuple):
            for item in arg:
                if isinstance(item, Node):
                    found |= fields_of(item)
    return found


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def to_sql(node: Node, fields: Iterable[str], column_of: dict[str, str] | None = None) -> str:
    """Compile a tree to SQL over the given fields; an unknown field raises RuleError at its column."""
    known = set(fields)
    column_of = column_of or {}

    def walk(n: Node) -> str:
        op, a = n.op, n.args
        if op == "or":
            return f"({walk(a[0])} OR {walk(a[1])})"
        if op == "and":
            return f"({walk(a[0])} AND {walk(a[1])})"
        if op == "not":
            return f"(NOT {walk(a[0])})"
        if op == "cmp":
            return f"({walk(a[1])} {a[0]} {walk(a[2])})"
        if op == "in":
            return f"({walk(a[0])} IN ({', '.join(walk(x) for x in a[1])}))"
        if op == "between":
            return f"({walk(a[0])} BETWEEN {walk(a[1])} AND {walk(a[2])})"
        if op == "isnull":
            return f"({walk(a[0])} IS {'NOT ' if a[1] else ''}NULL)"
        if op == "arith":
            sym = a[0]
            if sym == "/":
                return f"(CAST({walk(a[1])} AS DOUBLE) / NULLIF({walk(a[2])}, 0))"
            return f"({walk(a[1])} {sym} {walk(a[2])})"
        if op == "neg":
            return f"(-{walk(a[0])})"
        if op == "num":
            return a[0]
        if op == "str":
            return _quote_str(a[0])
        if op == "const":
            return a[0].upper()
        if op == "call":
            return f"{a[0]}({', '.join(walk(x) for x in a[1])})"
        if op == "field":
            name = a[0]
            if name not in known:
                hint = difflib.get_close_matches(name, sorted(known), n=1)
                fix = f"; did you mean '{hint[0]}'?" if hint else ""
                raise RuleError(f"unknown field '{name}'{fix}", n.pos + 1)
            return column_of.get(name, _quote_ident(name))
        raise AssertionError(op)

    return walk(node)


def compile_rule(text: str, fields: Iterable[str], column_of: dict[str, str] | None = None) -> str:
    """Parse and compile a rule in one step."""
    return to_sql(parse(text), fields, column_of)

"""Reading rule text: a tokenizer and a recursive-descent parser that type-checks against the catalogue.

No eval, no user regular expressions: the text is read token by token, every name is looked up in
the catalogue, and every value is checked against the field it is compared with.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass

from tandem.lib.rules import nodes as n
from tandem.lib.rules.catalogue import ANY, BOOL, CHOICE, DATE, NUMBER, PERSON, TEXT, TOUCHPOINT, Catalogue, Field
from tandem.lib.rules.errors import RuleError

MAX_LENGTH = 10_000
MAX_DEPTH = 40
MAX_LIST = 1_000
MAX_COUNT = 1_000_000
MAX_WINDOW_DAYS = 3_650
MAX_DAYS_SINCE = 36_500
KEYWORDS = {
    "and", "or", "not", "in", "between", "contains", "starts", "ends", "with", "any", "is", "blank",
    "true", "false", "count", "where", "last", "days", "day", "hours", "hour", "since",
}  # fmt: skip
# Our own pattern, never a user's: every alternative starts with a different character class, so it
# cannot backtrack more than one token.
TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<number>-?[0-9]+(?:\.[0-9]+)?)
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><=|>=|!=|<>|==|=|<|>)
    |(?P<punct>[()\[\],.])""",
    re.VERBOSE,
)
ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}
OPERATOR_ALIASES = {"==": n.EQ, "<>": n.NE}
WINDOW_UNITS = {"day": "days", "days": "days", "hour": "hours", "hours": "hours"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, punct, end
    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


def tokenize(source: str) -> list[Token]:
    tokens = []
    position = 0
    while position < len(source):
        match = TOKEN.match(source, position)
        if match is None:
            char = source[position]
            if char in "\"'":
                raise RuleError("unterminated text: a closing quote is missing", source=source, offset=position)
            raise RuleError(f"unexpected character {char!r}", source=source, offset=position)
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), match.start(), match.end()))
        position = match.end()
    tokens.append(Token("end", "", len(source), len(source)))
    return tokens


def _unquote(token: Token, source: str) -> str:
    body, out, index = token.text[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1]
            if escaped not in ESCAPES:
                raise RuleError(
                    f"unknown escape \\{escaped} in text", source=source, offset=token.start + 1 + index, length=2
                )
            out.append(ESCAPES[escaped])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _names(values) -> str:
    return ", ".join(values)


class Parser:
    """One rule's text to a tree of nodes; raises RuleError naming the bad part and where it is."""

    def __init__(self, source: str, catalogue: Catalogue):
        if len(source) > MAX_LENGTH:
            raise RuleError(f"the rule is longer than {MAX_LENGTH:,} characters", source=source, offset=MAX_LENGTH)
        self.source = source
        self.catalogue = catalogue
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0
        self.aggregates: dict[str, n.Aggregate] = {}

    # -- tokens ---------------------------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def error(self, message: str, token: Token | None = None, *, start: int | None = None, end: int | None = None):
        token = token or self.token
        start = token.start if start is None else start
        end = token.end if end is None else end
        return RuleError(message, source=self.source, offset=start, length=max(1, end - start))

    def describe(self, token: Token) -> str:
        return "the end of the rule" if token.kind == "end" else repr(token.text)

    def at_word(self, *words: str) -> bool:
        return self.token.word in words

    def expect_word(self, word: str, context: str) -> Token:
        if self.token.word != word:
            raise self.error(f"expected '{word}' {context}, found {self.describe(self.token)}")
        return self.advance()

    def expect_punct(self, char: str, context: str) -> Token:
        if self.token.text != char or self.token.kind != "punct":
            raise self.error(f"expected '{char}' {context}, found {self.describe(self.token)}")
        return self.advance()

    # -- conditions -----------------------------------------------------------------------------------
    def parse(self) -> n.Node:
        if self.token.kind == "end":
            raise self.error("the rule is empty: write a condition such as fit_score >= 60")
        node = self.parse_or(PERSON)
        if self.token.kind != "end":
            hint = " (combine conditions with 'and' or 'or')" if self.token.kind in ("name", "number") else ""
            raise self.error(f"unexpected {self.describe(self.token)} after a complete condition{hint}")
        return node

    def parse_or(self, scope: str) -> n.Node:
        children = [self.parse_and(scope)]
        while self.at_word("or"):
            self.advance()
            children.append(self.parse_and(scope))
        return children[0] if len(children) == 1 else n.AnyOf(tuple(children))

    def parse_and(self, scope: str) -> n.Node:
        children = [self.parse_not(scope)]
        while self.at_word("and"):
            self.advance()
            children.append(self.parse_not(scope))
        return children[0] if len(children) == 1 else n.AllOf(tuple(children))

    def parse_not(self, scope: str) -> n.Node:
        if self.at_word("not"):
            self.advance()
            return n.Negation(self.parse_not(scope))
        return self.parse_primary(scope)

    def parse_primary(self, scope: str) -> n.Node:
        if self.token.kind == "punct" and self.token.text == "(":
            opening = self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"conditions are nested more than {MAX_DEPTH} deep", opening)
            node = self.parse_or(scope)
            if self.token.text != ")":
                raise self.error(
                    f"expected ')' to close the '(' at column {opening.start + 1}, found {self.describe(self.token)}"
                )
            self.advance()
            self.depth -= 1
            return node
        return self.parse_comparison(scope)

    # -- operands -------------------------------------------------------------------------------------
    def parse_comparison(self, scope: str) -> n.Comparison:
        start = self.token.start
        if self.token.kind == "end":
            raise self.error("expected a condition, found the end of the rule")
        if self.at_word("count") and self.peek().text == "(" and scope != TOUCHPOINT:
            self.advance()
            operand = n.CountOperand(self.parse_aggregate("count"))
            return self.parse_count_test(operand, start)
        if self.at_word("days") and self.peek().word == "since" and scope != TOUCHPOINT:
            return self.parse_days_since_test(start)
        field_token, operand = self.parse_field(scope)
        return self.parse_test(operand, field_token, start)

    def parse_field(self, scope: str) -> tuple[Token, n.FieldOperand]:
        first = self.token
        if first.kind != "name" or first.word in ("and", "or"):
            raise self.error(f"expected a field name, found {self.describe(first)}")
        parts = [self.advance().text]
        end = first.end
        while self.token.text == "." and self.token.kind == "punct":
            self.advance()
            if self.token.kind == "name":
                parts.append(self.advance().text)
            elif self.token.kind == "string" and parts[-1] in ("custom", "properties"):
                parts.append(_unquote(self.advance(), self.source))
            else:
                raise self.error(f"expected a name after '.', found {self.describe(self.token)}")
            end = self.tokens[self.index - 1].end
        name = ".".join(parts)
        token = Token("name", self.source[first.start : end], first.start, end)
        return token, n.FieldOperand(self.resolve_field(parts, name, token, scope))

    def resolve_field(self, parts: list[str], name: str, token: Token, scope: str) -> Field:
        if scope == TOUCHPOINT:
            if parts[0] == "properties" and len(parts) == 2:
                return Field(name=name, scope=TOUCHPOINT, column="properties", kind=ANY, json_key=parts[1])
        else:
            if parts[0] == "person" and len(parts) > 1:
                parts = parts[1:]
            if parts[0] == "custom" and len(parts) == 2:
                return Field(name=name, scope=PERSON, column="custom_fields", kind=ANY, json_key=parts[1])
            if parts[:2] == ["account", "custom"] and len(parts) == 3:
                return Field(name=name, scope="account", column="custom_fields", kind=ANY, json_key=parts[2])
        found = self.catalogue.lookup(name, scope)
        if found is not None:
            return found
        if parts[0] in ("custom", "properties") or parts[-1] in ("custom", "properties"):
            raise self.error(f"'{name}' needs a key: write {parts[0]}.<key>", token)
        where = "touchpoint field" if scope == TOUCHPOINT else "field"
        suggestions = self.catalogue.suggestions(name, scope)
        hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
        if scope == TOUCHPOINT:
            hint += f" (touchpoint fields: {_names(self.catalogue.names(TOUCHPOINT))}, properties.<key>)"
        raise self.error(f"unknown {where} '{name}'{hint}", token)

    def parse_aggregate(self, function: str) -> n.Aggregate:
        self.expect_punct("(", f"after {function}")
        type_token = self.token
        if type_token.kind != "name":
            raise self.error(
                f"expected a touchpoint type or 'any' in {function}(...), found {self.describe(type_token)}"
            )
        self.advance()
        touchpoint_type = None
        if type_token.word != "any":
            keys = [key for key, _ in self.catalogue.touchpoint_types]
            touchpoint_type = self.match_choice(type_token.text, self.catalogue.touchpoint_types)
            if touchpoint_type is None:
                raise self.error(
                    f"unknown touchpoint type '{type_token.text}'; expected any or one of {_names(keys)}", type_token
                )
        where = None
        if self.at_word("where"):
            self.advance()
            where = self.parse_or(TOUCHPOINT)
        window, window_text = None, ""
        if self.token.text == ",":
            self.advance()
            window, window_text = self.parse_window()
        if self.token.text != ")":
            expected = "',' and a window such as 'last 30 days', or ')'" if window is None else "')'"
            raise self.error(f"expected {expected} in {function}(...), found {self.describe(self.token)}")
        self.advance()
        aggregate = n.Aggregate(function, touchpoint_type, where, window, window_text)
        key = aggregate.text()
        aggregate = self.aggregates.setdefault(
            key, n.Aggregate(function, touchpoint_type, where, window, window_text, key)
        )
        return aggregate

    def parse_window(self) -> tuple[dt.timedelta, str]:
        self.expect_word("last", "before the window (e.g. 'last 30 days')")
        amount_token = self.token
        if amount_token.kind != "number" or "." in amount_token.text:
            raise self.error(f"expected a whole number of days or hours, found {self.describe(amount_token)}")
        self.advance()
        amount = int(amount_token.text)
        unit_token = self.token
        unit = WINDOW_UNITS.get(unit_token.word)
        if unit is None:
            raise self.error(f"expected 'days' or 'hours' after {amount}, found {self.describe(unit_token)}")
        self.advance()
        limit = MAX_WINDOW_DAYS if unit == "days" else MAX_WINDOW_DAYS * 24
        if not 1 <= amount <= limit:
            raise self.error(
                f"the window must be between 1 and {limit:,} {unit}, not {amount}",
                start=amount_token.start,
                end=unit_token.end,
            )
        delta = dt.timedelta(days=amount) if unit == "days" else dt.timedelta(hours=amount)
        return delta, f"{amount} {unit if amount != 1 else unit[:-1]}"

    def parse_days_since_test(self, start: int) -> n.Comparison:
        self.advance()
        self.advance()  # days since
        if self.at_word("last") and self.peek().text == "(":
            self.advance()
            source = self.parse_aggregate("last")
        else:
            field_token, source = self.parse_field(PERSON)
            if source.field.kind != DATE:
                raise self.error(
                    f"days since needs a date field; {source.field.name} is {source.field.kind}", field_token
                )
        return self.parse_count_test(n.DaysSinceOperand(source), start, unit="days")

    # -- tests ----------------------------------------------------------------------------------------
    def parse_operator(self) -> tuple[str, Token]:
        token = self.token
        if token.kind == "op":
            self.advance()
            return OPERATOR_ALIASES.get(token.text, token.text), token
        word = token.word
        follow = self.peek().word
        if word == "in":
            self.advance()
            return n.IN, token
        if word == "not" and follow == "in":
            self.advance()
            return n.NOT_IN, Token("op", "not in", token.start, self.advance().end)
        if word == "between":
            self.advance()
            return n.BETWEEN, token
        if word == "is":
            self.advance()
            negated = self.at_word("not")
            if negated:
                self.advance()
            end_token = self.expect_word("blank", "after 'is'" + (" not" if negated else ""))
            return (n.IS_NOT_BLANK if negated else n.IS_BLANK), Token("op", "is blank", token.start, end_token.end)
        if word in ("contains", "starts", "ends"):
            self.advance()
            if word != "contains":
                self.expect_word("with", f"after '{word}'")
            base = {"contains": n.CONTAINS, "starts": n.STARTS_WITH, "ends": n.ENDS_WITH}[word]
            if self.at_word("any"):
                self.advance()
                return base + " any", Token("op", base + " any", token.start, self.tokens[self.index - 1].end)
            return base, Token("op", base, token.start, self.tokens[self.index - 1].end)
        raise self.error(
            f"expected an operator (=, !=, <, <=, >, >=, in, not in, between, contains, starts with, ends with, "
            f"is blank) after the field, found {self.describe(token)}"
        )

    def parse_literal(self, field: Field | None) -> tuple[object, Token]:
        token = self.token
        if token.kind == "string":
            self.advance()
            return _unquote(token, self.source), token
        if token.kind == "number":
            self.advance()
            return (float(token.text) if "." in token.text else int(token.text)), token
        if token.word in ("true", "false"):
            self.advance()
            return token.word == "true", token
        if token.kind == "name" and field is not None and field.kind == CHOICE:
            self.advance()  # choice keys may go unquoted: lifecycle_stage = mql
            return token.text, token
        if token.text == "[":
            raise self.error("expected one value here, not a list (use 'in [...]' to test several)")
        hint = " (text goes in double quotes)" if token.kind == "name" else ""
        raise self.error(f"expected a value, found {self.describe(token)}{hint}")

    def parse_list(self, field: Field | None) -> list[tuple[object, Token]]:
        if self.token.text != "[":
            raise self.error(f'expected a list such as ["a", "b"], found {self.describe(self.token)}')
        self.advance()
        items = []
        while self.token.text != "]":
            items.append(self.parse_literal(field))
            if len(items) > MAX_LIST:
                raise self.error(f"a list holds at most {MAX_LIST:,} values")
            if self.token.text == ",":
                self.advance()
            elif self.token.text != "]":
                raise self.error(f"expected ',' or ']' in the list, found {self.describe(self.token)}")
        closing = self.advance()
        if not items:
            raise self.error("the list is empty", closing)
        return items

    def parse_test(self, operand: n.FieldOperand, field_token: Token, start: int) -> n.Comparison:
        field = operand.field
        operator, operator_token = self.parse_operator()
        if operator in (n.IS_BLANK, n.IS_NOT_BLANK):
            return self.comparison(operand, operator, (), field.kind, start)
        if operator in (n.IN, n.NOT_IN) or operator in n.ANY_MATCHES:
            raw = self.parse_list(field)
        elif operator == n.BETWEEN:
            low = self.parse_literal(field)
            self.expect_word("and", "between the two bounds of 'between'")
            raw = [low, self.parse_literal(field)]
        else:
            raw = [self.parse_literal(field)]
        kind = field.kind if field.kind != ANY else self.custom_kind(raw, field)
        self.check_operator(field, kind, operator, operator_token)
        values = [self.check_value(field, kind, value, token) for value, token in raw]
        if operator == n.BETWEEN and values[0] > values[1]:
            raise self.error(
                f"between {raw[0][1].text} and {raw[1][1].text}: the lower bound must come first",
                start=raw[0][1].start,
                end=raw[1][1].end,
            )
        return self.comparison(operand, operator, tuple(values), kind, start)

    def comparison(self, operand, operator: str, values: tuple, kind: str, start: int) -> n.Comparison:
        return n.Comparison(operand, operator, values, kind, start, self.tokens[self.index - 1].end)

    def custom_kind(self, raw, field: Field) -> str:
        """A custom field or property compares as the kind of the values it is compared with."""
        kinds = {
            BOOL if isinstance(value, bool) else NUMBER if isinstance(value, int | float) else TEXT for value, _ in raw
        }
        if len(kinds) > 1:
            first, token = raw[0]
            raise self.error(f"{field.name}: the values mix {' and '.join(sorted(kinds))}; use one kind", token)
        return kinds.pop()

    def check_operator(self, field: Field, kind: str, operator: str, token: Token) -> None:
        allowed = {
            TEXT: [n.EQ, n.NE, n.IN, n.NOT_IN, *n.TEXT_MATCHES, *n.ANY_MATCHES],
            CHOICE: [n.EQ, n.NE, n.IN, n.NOT_IN],
            NUMBER: [n.EQ, n.NE, *n.ORDERING, n.IN, n.NOT_IN, n.BETWEEN],
            BOOL: [n.EQ, n.NE],
            DATE: [n.EQ, n.NE, *n.ORDERING, n.BETWEEN],
        }[kind]
        if operator not in allowed:
            kind_name = {TEXT: "text", CHOICE: "a choice", NUMBER: "a number", BOOL: "true/false", DATE: "a date"}[kind]
            raise self.error(
                f"'{operator}' does not apply to {field.name}, which is {kind_name}; "
                f"use {', '.join(allowed)}, is blank",
                token,
            )

    def check_value(self, field: Field, kind: str, value, token: Token):
        described = "text" if isinstance(value, str) else "true/false" if isinstance(value, bool) else "a number"
        if kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.error(f"{field.name} is a number; {token.text} is {described}", token)
            if (field.minimum is not None and value < field.minimum) or (
                field.maximum is not None and value > field.maximum
            ):
                bounds = (
                    f"between {field.minimum} and {field.maximum}"
                    if field.maximum is not None
                    else f"at least {field.minimum}"
                )
                raise self.error(f"{value} is out of range: {field.name} is {bounds}", token)
            return value
        if kind == BOOL:
            if not isinstance(value, bool):
                raise self.error(f"{field.name} is true or false; {token.text} is {described}", token)
            return value
        if not isinstance(value, str):
            what = 'a date such as "2025-01-31"' if kind == DATE else "text in double quotes"
            raise self.error(f"{field.name} takes {what}; {token.text} is {described}", token)
        if kind == CHOICE:
            key = self.match_choice(value, field.choices)
            if key is None:
                keys = [key for key, _ in field.choices]
                by_folded = {key.lower(): key for key in keys}
                close = difflib.get_close_matches(value.lower(), list(by_folded), n=1)
                hint = f"; did you mean {by_folded[close[0]]}?" if close else ""
                listed = _names(keys) if len(keys) <= 30 else "a two-letter ISO country code such as US"
                raise self.error(f"unknown {field.name} {token.text}{hint} (expected {listed})", token)
            return key
        if kind == DATE:
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise self.error(
                    f"{field.name} takes a date written YYYY-MM-DD; {token.text} is not one", token
                ) from None
        return value

    def match_choice(self, value: str, choices) -> str | None:
        folded = value.strip().lower()
        for key, label in choices:
            if folded in (key.lower(), label.lower()):
                return key
        return None

    def parse_count_test(self, operand, start: int, unit: str = "") -> n.Comparison:
        operator, operator_token = self.parse_operator()
        subject = operand.text()
        if operator in (n.IS_BLANK, n.IS_NOT_BLANK):
            if isinstance(operand, n.CountOperand):
                raise self.error(
                    f"a count is never blank; compare it with a number, e.g. {subject} >= 1", operator_token
                )
            return self.comparison(operand, operator, (), NUMBER, start)
        if operator not in (n.EQ, n.NE, *n.ORDERING, n.BETWEEN):
            raise self.error(
                f"'{operator}' does not apply to {subject}; compare it with =, !=, <, <=, >, >= or between",
                operator_token,
            )
        raw = [self.parse_literal(None)]
        if operator == n.BETWEEN:
            self.expect_word("and", "between the two bounds of 'between'")
            raw.append(self.parse_literal(None))
        limit = MAX_DAYS_SINCE if unit else MAX_COUNT
        values = []
        for value, token in raw:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(f"{subject} is compared with a whole number; {token.text} is not one", token)
            if not 0 <= value <= limit:
                raise self.error(f"{value} is out of range: {subject} is compared with 0 to {limit:,}", token)
            values.append(value)
        if operator == n.BETWEEN and values[0] > values[1]:
            raise self.error(
                f"between {raw[0][1].text} and {raw[1][1].text}: the lower bound must come first",
                start=raw[0][1].start,
                end=raw[1][1].end,
            )
        return self.comparison(operand, operator, tuple(values), NUMBER, start)


def parse_text(source: str, catalogue: Catalogue) -> tuple[n.Node, dict[str, n.Aggregate]]:
    """The tree of one rule's text and the distinct aggregates it needs, by key."""
    parser = Parser(source, catalogue)
    return parser.parse(), parser.aggregates

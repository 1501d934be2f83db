"""The one error a rule can raise: what is wrong, where it is, and a caret under it for the editor."""

from __future__ import annotations


class RuleError(ValueError):
    """An invalid rule: the message names the bad part; offset/line/column say where it is in the rule's text.

    `path` locates the rule inside a structured condition or a contract section ("any[2]",
    "fit.rules[3] (Big company).when"); it is empty for a bare rule string.
    """

    def __init__(self, message: str, *, source: str = "", offset: int = 0, length: int = 1, path: str = ""):
        self.message = message
        self.source = source
        self.offset = max(0, min(offset, len(source)))
        self.length = max(1, length)
        self.path = path
        before = source[: self.offset]
        self.line = before.count("\n") + 1
        self.column = self.offset - (before.rfind("\n") + 1) + 1
        self.text = source[self.offset : self.offset + self.length] if source else ""
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        if not self.source:
            return f"{where}{self.message}"
        return f"{where}{self.message} (line {self.line}, column {self.column})"

    def caret(self) -> str:
        """The line of the rule that holds the error with carets under the bad part, for a monospace editor."""
        if not self.source:
            return ""
        line_start = self.source.rfind("\n", 0, self.offset) + 1
        line_end = self.source.find("\n", self.offset)
        line = self.source[line_start : line_end if line_end != -1 else len(self.source)]
        width = max(1, min(self.length, len(line) - (self.column - 1)))
        return f"{line}\n{' ' * (self.column - 1)}{'^' * width}"

    def at_path(self, path: str) -> RuleError:
        """The same error located inside a larger document, e.g. "mql.when" or "any[1]"."""
        joined = f"{path}.{self.path}" if self.path and not self.path.startswith("[") else f"{path}{self.path}"
        return RuleError(self.message, source=self.source, offset=self.offset, length=self.length, path=joined)

    def as_dict(self) -> dict:
        """Plain data for an API answer or the editor's validation as you type."""
        return {
            "message": self.message,
            "path": self.path,
            "offset": self.offset,
            "length": self.length,
            "line": self.line,
            "column": self.column,
            "text": self.text,
            "caret": self.caret(),
        }

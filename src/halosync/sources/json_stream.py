"""Reading a JSON usage document a member, and a list item, at a time.

A large file is never held whole: the top level is walked here, and each list item (or
other member value) is decoded by the standard library's own ``json`` decoder, so what is
valid JSON and what each value becomes are exactly as ``json.loads`` would have it, with
one limit ``json.loads`` lacks: lists and objects nest at most :data:`MAX_DEPTH` deep (a
usage document needs 3; 1,200 levels would exhaust Python's recursion limit). Syntax
errors, too-deep values and bytes that are not UTF-8 carry the line and column in the
whole file.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal

# Characters of decoded text read at a time.
CHUNK = 1 << 20
# A value ending (or failing) this close to the end of what has been read may be cut
# short by the chunk boundary (a number, "Infinity", a \uXXXX escape): read on and retry.
_MARGIN = 32
_BOM = codecs.BOM_UTF8
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# A usage document nests 3 deep ({"subscriptions": [{...}]}); anything past this is refused
# before it reaches code that recurses (the decoder, pydantic, repr, json.dumps).
MAX_DEPTH = 32
# Strings (skipped whole, even unterminated at the window's end) and brackets.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)

EventKind = Literal["document", "list", "item", "value"]


class JsonSyntaxError(Exception):
    """The text is not valid JSON; ``line`` and ``column`` count from 1, as ``json`` does."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message}: line {line} column {column}")
        self.message = message
        self.line = line
        self.column = column


class JsonTooDeepError(JsonSyntaxError):
    """Lists and objects nest deeper than :data:`MAX_DEPTH`; ``line`` and ``column`` are
    those of the bracket that opens one level too many, ``path`` the value it is in."""

    def __init__(self, line: int, column: int, path: str) -> None:
        super().__init__(f"nested more than {MAX_DEPTH} levels deep", line, column)
        self.path = path


class NotUtf8Error(Exception):
    """The file is not UTF-8: ``value`` is the first bad byte, ``offset`` its place in the
    file, ``line`` and ``column`` (from 1, in characters) where it stands in the text."""

    def __init__(self, value: int, offset: int, line: int, column: int) -> None:
        super().__init__(f"byte 0x{value:02X} at offset {offset} is not UTF-8")
        self.value = value
        self.offset = offset
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class JsonEvent:
    """One step through a usage document.

    ``document``: the whole document, which is not an object; ``list``: the list of
    member ``key`` begins (a repeated key replaces the earlier one, as in ``json``);
    ``item``: element ``index`` of that list; ``value``: any other member, whole.
    """

    kind: EventKind
    key: str = ""
    index: int = 0
    value: Any = None


class _Window:
    """A sliding window over the file's decoded text; what has been consumed is dropped."""

    def __init__(self, raw: IO[bytes], progress: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._progress = progress
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._fed = 0  # bytes of the file given to the decoder (a BOM included)
        self._first = True
        # Where the end of everything decoded so far stands, for a bad byte's position.
        self._end_line = 1
        self._end_column = 0
        self.text = ""
        self.pos = 0
        self.eof = False
        self._line = 1  # line of text[0]
        self._column = 0  # characters before text[0] on its line

    def more(self, at_least: int = 0) -> bool:
        """Read at least ``at_least`` (default one chunk) more characters, fewer at the end;
        False at the end."""
        if self.eof:
            return False
        at_least = at_least or CHUNK
        self._drop_consumed()
        pieces = [self.text]
        got = 0
        while got < at_least and not self.eof:
            piece = self._read()
            pieces.append(piece)
            got += len(piece)
        self.text = "".join(pieces)
        return got > 0 or self.pos < len(self.text)

    def _read(self) -> str:
        data = self._raw.read(CHUNK)
        if self._first:
            self._first = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
                self._fed = len(_BOM)
        if self._progress is not None:
            self._progress(self._raw.tell())
        pending = self._decoder.getstate()[0]
        self.eof = not data
        try:
            text = self._decoder.decode(data, final=self.eof)
        except UnicodeDecodeError as error:
            raise self._not_utf8(pending + data, error.start, len(pending)) from None
        self._fed += len(data)
        self._advance_end(text)
        return text

    def _advance_end(self, text: str) -> None:
        newlines = text.count("\n")
        if newlines:
            self._end_line += newlines
            self._end_column = len(text) - text.rfind("\n") - 1
        else:
            self._end_column += len(text)

    def _not_utf8(self, data: bytes, start: int, pending: int) -> NotUtf8Error:
        # Everything before the bad byte is valid UTF-8, so it decodes to the text that
        # stands before it on its line.
        self._advance_end(data[:start].decode("utf-8"))
        offset = self._fed - pending + start
        return NotUtf8Error(data[start], offset, self._end_line, self._end_column + 1)

    def _drop_consumed(self) -> None:
        if not self.pos:
            return
        newlines = self.text.count("\n", 0, self.pos)
        if newlines:
            self._line += newlines
            self._column = self.pos - self.text.rfind("\n", 0, self.pos) - 1
        else:
            self._column += self.pos
        self.text = self.text[self.pos :]
        self.pos = 0

    def check_rest(self) -> None:
        """Decode the rest of the file, so a later non-UTF-8 byte is still found."""
        while not self.eof:
            self._read()

    def position(self, index: int) -> tuple[int, int]:
        """Line and column (from 1) of ``text[index]`` in the whole file."""
        newlines = self.text.count("\n", 0, index)
        if newlines:
            return self._line + newlines, index - self.text.rfind("\n", 0, index)
        return self._line, self._column + index + 1

    def fail(self, message: str, index: int | None = None) -> JsonSyntaxError:
        """A syntax error at ``index`` (default: the current position)."""
        return JsonSyntaxError(message, *self.position(self.pos if index is None else index))

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def _near_end(self, index: int) -> bool:
        return not self.eof and index >= len(self.text) - _MARGIN

    def _grow(self) -> None:
        # At least double what is held, so one huge value costs few retries.
        self.more(max(CHUNK, len(self.text) - self.pos))

    def value(self, depth: int, path: str) -> Any:
        """Decode the JSON value at the current position, inside ``depth`` lists and objects
        (``path``), and step past it."""
        while True:
            try:
                found, end = _DECODER.raw_decode(self.text, self.pos)
            except RecursionError:
                raise self._too_deep(depth, path, len(self.text)) from None
            except json.JSONDecodeError as error:
                cut = error.msg.startswith("Unterminated string")
                if not self.eof and (cut or self._near_end(error.pos)):
                    self._grow()
                    continue
                raise self.fail(error.msg, error.pos) from None
            except ValueError as error:  # e.g. an integer longer than Python allows
                raise self.fail(str(error)) from None
            if self._near_end(end):
                self._grow()
                continue
            room = MAX_DEPTH - depth
            # Counting brackets is cheap; only a value with many is walked for its depth.
            if self.text.count("[", self.pos, end) + self.text.count("{", self.pos, end) > room:
                self._check_depth(depth, path, end)
            self.pos = end
            return found

    def _check_depth(self, depth: int, path: str, end: int) -> None:
        level = depth
        for token in _TOKENS.finditer(self.text, self.pos, end):
            char = token.group()
            if char in ("[", "{"):
                level += 1
                if level > MAX_DEPTH:
                    raise JsonTooDeepError(*self.position(token.start()), path)
            elif char in ("]", "}"):
                level -= 1

    def _too_deep(self, depth: int, path: str, end: int) -> JsonTooDeepError:
        try:
            self._check_depth(depth, path, end)
        except JsonTooDeepError as error:
            return error
        # The decoder gave up on recursion before MAX_DEPTH: not reachable with Python's
        # recursion limit, but name the value rather than pretend it was fine.
        return JsonTooDeepError(*self.position(self.pos), path)  # pragma: no cover

    def key(self) -> str:
        """Decode the object key (a string) at the current position and step past it."""
        while True:
            try:
                found, end = json.decoder.scanstring(self.text, self.pos + 1)  # type: ignore[attr-defined]
            except json.JSONDecodeError as error:
                cut = error.msg.startswith("Unterminated string")
                if not self.eof and (cut or self._near_end(error.pos)):
                    self._grow()
                    continue
                raise self.fail(error.msg, error.pos) from None
            self.pos = end
            return str(found)


def iter_document(
    raw: IO[bytes],
    lists: frozenset[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[JsonEvent]:
    """Walk a JSON document whose members named in ``lists`` are streamed item by item.

    Raises :class:`JsonSyntaxError` (or :class:`NotUtf8Error`, which wins if the file
    also has a bad byte later, as decoding the whole file first would have found it).
    """
    window = _Window(raw, progress)
    try:
        yield from _walk(window, lists)
    except JsonSyntaxError:  # too deep included
        window.check_rest()
        raise


def load(raw: IO[bytes]) -> Any:
    """The whole JSON document in ``raw``, as ``json.loads`` would read it, within this
    module's limits (:data:`MAX_DEPTH`, UTF-8) and with its errors: a request body."""
    members: dict[str, Any] = {}
    for event in iter_document(raw, frozenset()):
        if event.kind == "document":
            return event.value
        members[event.key] = event.value
    return members


def _walk(window: _Window, lists: frozenset[str]) -> Iterator[JsonEvent]:
    window.more()
    if window.text.startswith("\ufeff"):
        raise window.fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
    if window.peek() != "{":
        document = window.value(0, "$")
        _expect_end(window)
        yield JsonEvent("document", value=document)
        return
    window.pos += 1
    char = window.peek()
    if char == "}":
        window.pos += 1
        _expect_end(window)
        return
    while True:
        if char != '"':
            raise window.fail("Expecting property name enclosed in double quotes")
        key = window.key()
        if window.peek() != ":":
            raise window.fail("Expecting ':' delimiter")
        window.pos += 1
        if key in lists and window.peek() == "[":
            window.pos += 1
            yield JsonEvent("list", key)
            yield from _items(window, key)
        else:
            window.peek()
            yield JsonEvent("value", key, value=window.value(1, f"$.{key}"))
        char = window.peek()
        if char == "}":
            window.pos += 1
            break
        if char != ",":
            raise window.fail("Expecting ',' delimiter")
        window.pos += 1
        char = window.peek()
    _expect_end(window)


def _items(window: _Window, key: str) -> Iterator[JsonEvent]:
    if window.peek() == "]":
        window.pos += 1
        return
    index = 0
    while True:
        window.peek()
        yield JsonEvent("item", key, index, window.value(2, f"$.{key}[{index}]"))
        index += 1
        char = window.peek()
        if char == "]":
            window.pos += 1
            return
        if char != ",":
            raise window.fail("Expecting ',' delimiter")
        window.pos += 1


def _expect_end(window: _Window) -> None:
    if window.peek():
        raise window.fail("Extra data")

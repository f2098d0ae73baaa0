"""Reading a JSON usage document a member, and a list item, at a time.

A large file is never held whole: the top level is walked here, and each list item (or
other member value) is decoded by the standard library's own ``json`` decoder, so what is
valid JSON and what each value becomes are exactly as ``json.loads`` would have it.
Syntax errors carry the line and column in the whole file.
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

EventKind = Literal["document", "list", "item", "value"]


class JsonSyntaxError(Exception):
    """The text is not valid JSON; ``line`` and ``column`` count from 1, as ``json`` does."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message}: line {line} column {column}")
        self.message = message
        self.line = line
        self.column = column


class NotUtf8Error(Exception):
    """The file is not UTF-8; ``offset`` is the first bad byte (after any BOM)."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"not UTF-8 at byte {offset}")
        self.offset = offset


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
        self._fed = 0  # bytes given to the decoder
        self._first = True
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
        if self._progress is not None:
            self._progress(self._raw.tell())
        pending = len(self._decoder.getstate()[0])
        self.eof = not data
        try:
            text = self._decoder.decode(data, final=self.eof)
        except UnicodeDecodeError as error:
            raise NotUtf8Error(self._fed - pending + error.start) from None
        self._fed += len(data)
        return text

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

    def value(self) -> Any:
        """Decode the JSON value at the current position and step past it."""
        while True:
            try:
                found, end = _DECODER.raw_decode(self.text, self.pos)
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
            self.pos = end
            return found

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
    except JsonSyntaxError:
        window.check_rest()
        raise


def _walk(window: _Window, lists: frozenset[str]) -> Iterator[JsonEvent]:
    window.more()
    if window.text.startswith("\ufeff"):
        raise window.fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
    if window.peek() != "{":
        document = window.value()
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
            yield JsonEvent("value", key, value=window.value())
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
        yield JsonEvent("item", key, index, window.value())
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

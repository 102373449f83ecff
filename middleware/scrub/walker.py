"""A bounded, cycle-safe walk that rebuilds JSON-like data with secrets filtered."""

from __future__ import annotations

import datetime
import itertools
import marshal
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, cast

from middleware._sdk import safe_repr
from middleware.scrub.budget import CUT_MARGIN, MAX_TEXT, current_budget, cut, spend
from middleware.scrub.keys import FILTERED, is_secret_key
from middleware.scrub.pii import ip_addresses
from middleware.scrub.secrets import TextScrubber, luhn, server_would_filter

# Deeper data is replaced, not walked: Sentry keeps far less, and the walk stays bounded.
MAX_DEPTH = 32
# Events repeat most of their strings (module names, paths, source lines, scope
# keys), so results for short ones are kept: a lookup is far cheaper than a scan.
CACHED_TEXT = 256
CACHE_SIZE = 8192

_NAME = re.compile(r"[^\s=:]{1,100}")
# Frames with source context or locals, by their content: the frames of the
# framework's layers repeat from one event to the next. Few, since each is larger.
CACHED_FRAMES = 256
FRAMES_PER_LINE = 4
CACHED_STACKS = 64
_FRAME_SECTIONS: Mapping[str, Section] = MappingProxyType(
    {"vars": lambda walker, value: walker.strict(value)}
)

# Integers with fewer digits than a card number are kept without a look.
_CARD_MIN = 10**12


def _is_pair(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and len(item) == 2 and type(item[0]) is str


Section = Callable[["Walker", Any], Any]


class Walker:
    """Rebuilds data with secret keys and secret-shaped substrings filtered.

    "strict" is Sentry's databag treatment: a value its password rule matches is
    filtered whole. "loose" (messages, names, paths) only loses secret substrings.
    """

    def __init__(self, secrets: Iterable[str], *, hide_pii: bool) -> None:
        self.text = TextScrubber(secrets, hide_pii=hide_pii)
        self.hide_pii = hide_pii
        # Results of scans, by the text scanned.
        self._loose: dict[str, str] = {}
        self._strict: dict[str, str] = {}
        self._keys: dict[str, bool] = {}
        # A key's scrubbed text and whether it names a secret, in one lookup.
        self._named: dict[str, tuple[str, bool]] = {}
        # Frames scrubbed before, by where they point and the types of their fields.
        self._frames: dict[tuple[Any, ...], list[_Frame]] = {}
        # Stacks whose every frame was scrubbed before, by their frames' serials.
        self._stacks: dict[tuple[int, ...], bytes] = {}
        self._serials = itertools.count()
        # Stacks of frames without locals or source lines, by their marshal form.
        self._small_stacks: dict[bytes, bytes] = {}

    def secret_key(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        found = self._keys.get(key)
        if found is None:
            if len(self._keys) >= CACHE_SIZE:
                self._keys.clear()
            found = self._keys[key] = is_secret_key(key, pii=self.hide_pii)
        return found

    def strict(self, value: Any) -> Any:
        return self.walk(value, strict=True)

    def loose(self, value: Any) -> Any:
        return self.walk(value, strict=False)

    def string(self, text: str, *, strict: bool) -> str:
        cache = self._strict if strict else self._loose
        found = cache.get(text)
        if found is not None:
            return found
        size = len(text)
        if size > MAX_TEXT:
            text = text[: MAX_TEXT + CUT_MARGIN]
        if not spend(chars=len(text)):
            return FILTERED
        # Scanned before the cut, so that the cut can keep no prefix of a secret.
        found = self._scan(text, strict=strict)
        if size > MAX_TEXT:
            return cut(found, text, whole=size == len(text))
        if len(text) <= CACHED_TEXT:
            if len(cache) >= CACHE_SIZE:
                cache.clear()
            cache[text] = found
        return found

    def named(self, key: str) -> tuple[str, bool]:
        found = self._named.get(key)
        if found is None:
            found = (self.string(key, strict=False), self.secret_key(key))
            # Only a scanned text is kept: past the event's budget it is a placeholder.
            if key in self._loose:
                if len(self._named) >= CACHE_SIZE:
                    self._named.clear()
                self._named[key] = found
        return found

    def _scan(self, text: str, *, strict: bool) -> str:
        if strict and server_would_filter(text):
            return FILTERED
        text = self.text(text)
        # Sentry's server, with IP scrubbing on, replaces addresses in databags.
        return ip_addresses(text) if strict and self.hide_pii else text

    def walk(
        self, value: Any, *, strict: bool, depth: int = 0, seen: set[int] | None = None
    ) -> Any:
        if type(value) is str:
            return self.string(value, strict=strict)
        if value is None or isinstance(value, (bool, float, datetime.datetime)):
            return value
        if isinstance(value, int):
            digits = str(abs(value))
            return FILTERED if 13 <= len(digits) <= 19 and luhn(digits) else value
        if isinstance(value, (dict, list, tuple)):
            return self._enter(value, strict, depth, set() if seen is None else seen)
        if isinstance(value, str):
            # A str enum (the sdk's TransactionSource) stays itself unless scrubbed.
            text = value[:]
            scrubbed = self.string(text, strict=strict)
            return value if scrubbed == text else scrubbed
        if isinstance(value, bytes):
            return self.string(value.decode("utf-8", "replace"), strict=strict)
        return self.string(safe_repr(value), strict=strict)

    def _enter(self, value: Any, strict: bool, depth: int, seen: set[int]) -> Any:
        """A container one level down: bounded in depth, in items, and against cycles."""
        if depth >= MAX_DEPTH or id(value) in seen:
            return FILTERED
        budget = current_budget()
        if budget is not None and value:
            budget.items -= len(value)
            if budget.items < 0:
                return FILTERED
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                return self._dict(value, strict=strict, depth=depth + 1, seen=seen)
            return self._container(value, strict=strict, depth=depth + 1, seen=seen)
        finally:
            seen.discard(id(value))

    def _container(self, value: Any, *, strict: bool, depth: int, seen: set[int]) -> Any:
        if isinstance(value, dict):
            return self._dict(value, strict=strict, depth=depth, seen=seen)
        if value and _is_pair(value[0]) and all(_is_pair(item) for item in value):
            # A list of (name, value) pairs (headers, query, cookies): Sentry reads the
            # names as keys, as we do.
            return self._pairs(value, strict=strict, depth=depth, seen=seen)
        if len(value) == 2 and _is_pair(value) and _NAME.fullmatch(value[0]):
            # A lone pair: Sentry reads the name as a value, we read it as a key as well.
            name, item = value
            return [
                self.walk(name, strict=strict, depth=depth, seen=seen),
                self._entry(name, item, strict=strict, depth=depth, seen=seen),
            ]
        values = self._strict if strict else self._loose
        return [
            values.get(v) or self.string(v, strict=strict)
            if type(v) is str
            else self._enter(v, strict, depth, seen)
            if type(v) is dict or type(v) is list
            else self.walk(v, strict=strict, depth=depth, seen=seen)
            for v in value
        ]

    def _dict(self, value: dict[Any, Any], *, strict: bool, depth: int, seen: set[int]) -> Any:
        # The hot loop of the walk: cache lookups inlined, no call for a known string.
        named, values = self._named, (self._strict if strict else self._loose)
        out = {}
        for key, item in value.items():
            if type(key) is str:
                found_key = named.get(key)
                name, secret = self.named(key) if found_key is None else found_key
                if secret and item is not None and item is not True and item is not False:
                    out[name] = FILTERED
                    continue
            else:
                name = key
            kind = type(item)
            if kind is str:
                found = values.get(item)
                out[name] = self.string(item, strict=strict) if found is None else found
            elif (kind is int and -_CARD_MIN < item < _CARD_MIN) or item is None or kind is bool:
                out[name] = item
            elif kind is dict or kind is list:
                out[name] = self._enter(item, strict, depth, seen)
            else:
                out[name] = self.walk(item, strict=strict, depth=depth, seen=seen)
        return out

    def _pairs(self, value: Any, *, strict: bool, depth: int, seen: set[int]) -> list[Any]:
        named, values = self._named, (self._strict if strict else self._loose)
        out = []
        for key, item in value:
            found_key = named.get(key)
            name, secret = self.named(key) if found_key is None else found_key
            if secret and item is not None and item is not True and item is not False:
                out.append([name, FILTERED])
            elif type(item) is str:
                found = values.get(item)
                out.append([name, self.string(item, strict=strict) if found is None else found])
            else:
                out.append([name, self.walk(item, strict=strict, depth=depth, seen=seen)])
        return out

    def strict_entry(self, key: Any, value: Any) -> Any:
        return self._entry(key, value, strict=True, depth=1, seen=set())

    def _entry(self, key: Any, value: Any, *, strict: bool, depth: int, seen: set[int]) -> Any:
        if value is not None and value is not True and value is not False and self.secret_key(key):
            return FILTERED
        return self.walk(value, strict=strict, depth=depth, seen=seen)

    def walk_fields(self, value: Any, sections: Mapping[str, Section]) -> Any:
        """A dict whose listed fields have their own treatment; the rest is loose."""
        if not isinstance(value, dict):
            return self.loose(value)
        keys, values = self._keys, self._loose
        out = {}
        for key, item in value.items():
            section = sections.get(key)
            if section is not None:
                out[key] = section(self, item)
                continue
            if item is not None:
                secret = keys.get(key) if type(key) is str else None
                if secret is None:
                    secret = self.secret_key(key)
                if secret:
                    out[key] = FILTERED
                    continue
            kind = type(item)
            if kind is str:
                out[key] = values.get(item) or self.string(item, strict=False)
            elif (kind is int and -_CARD_MIN < item < _CARD_MIN) or item is None or kind is bool:
                out[key] = item
            else:
                out[key] = self.loose(item)
        return out

    def frame(self, frame: Any) -> Any:
        """A stack frame: its locals strict, the rest loose."""
        return self.walk_fields(frame, _FRAME_SECTIONS)

    def frames(self, frames: Any) -> Any:
        """A stacktrace's frames: when each was scrubbed before, all of them in one copy.

        One copy of the list shares the strings its frames repeat (the framework's
        ASGI scope, frame after frame), which a copy of each frame cannot. A stack
        is kept once all its frames were seen before: one frame new in each event
        (locals that change) would make every stack new.
        """
        if type(frames) is not list:
            return self.walk_each(frames, Walker.frame)
        if not any(type(f) is dict and ("vars" in f or "pre_context" in f) for f in frames):
            return self._small_frames(frames)
        found = [self._seen_frame(frame) for frame in frames]
        if any(entry is None for entry in found):
            return [
                self._new_frame(frame) if entry is None else marshal.loads(entry.done)  # noqa: S302 - bytes this walker wrote itself
                for frame, entry in zip(frames, found, strict=True)
            ]
        seen = cast(list[_Frame], found)
        serials = tuple(entry.serial for entry in seen)
        whole = self._stacks.get(serials)
        if whole is not None:
            return marshal.loads(whole)  # noqa: S302 - as above
        # A frame twice in the list (a layer used twice, on the same line) is in the
        # copy as two objects: its second place holds a copy of its own.
        kept, parts = set(), []
        for entry in seen:
            twice = entry.serial in kept
            kept.add(entry.serial)
            parts.append(marshal.loads(entry.done) if twice else entry.scrubbed)  # noqa: S302
        if len(self._stacks) >= CACHED_STACKS:
            self._stacks.clear()
        self._stacks[serials] = marshal.dumps(parts)
        return [marshal.loads(entry.done) for entry in seen]  # noqa: S302 - as above

    def _small_frames(self, frames: list[Any]) -> Any:
        """Frames without locals or source lines (a lean event's), by their exact
        content: marshal's form of the whole stack is made in C at a few bytes a
        frame, cheaper than a walk of its frames. One it cannot hold is walked.

        Version 2 of the format: later versions mark objects that have other
        references (refcounts, not content), so equal stacks would get other keys.
        Its bytes tell 1, 1.0 and True apart, and str from bytes."""
        try:
            key = marshal.dumps(frames, 2)
        except (ValueError, TypeError):
            return [self.frame(frame) for frame in frames]
        found = self._small_stacks.get(key)
        if found is not None:
            return marshal.loads(found)  # noqa: S302 - bytes this walker wrote itself
        scrubbed = [self.frame(frame) for frame in frames]
        budget = current_budget()
        if budget is None or (budget.chars >= 0 and budget.items >= 0):
            try:
                done = marshal.dumps(scrubbed)
            except (ValueError, TypeError):
                return scrubbed
            if len(self._small_stacks) >= CACHED_STACKS:
                self._small_stacks.clear()
            self._small_stacks[key] = done
        return scrubbed

    def _seen_frame(self, frame: Any) -> _Frame | None:
        """The entry of a frame equal to this one, scrubbed before.

        `==` compares in C, faster than any encoding of the frame. Equality is
        exact only where types cannot differ between equal values: only frames
        whose fields are scalars (their types are in the key) and whose nested
        values are only str and None are kept (an int equals a float, and the
        two are not scrubbed alike). Small frames (no source lines, no locals)
        are walked faster than they are compared.
        """
        if type(frame) is not dict or ("vars" not in frame and "pre_context" not in frame):
            return None
        try:
            found = self._frames.get(_where(frame))
        except TypeError:  # an unhashable field
            return None
        if found is not None:
            for entry in found:
                if entry.seen == frame:
                    return entry
        return None

    def _new_frame(self, frame: Any) -> Any:
        """The frame walked, and kept if it can be reused."""
        scrubbed = self.frame(frame)
        budget = current_budget()
        # Past the event's budget a frame holds placeholders that another event would not.
        if budget is not None and (budget.chars < 0 or budget.items < 0):
            return scrubbed
        if type(frame) is not dict or ("vars" not in frame and "pre_context" not in frame):
            return scrubbed
        if not _plain_frame(frame):
            return scrubbed
        where = _where(frame)
        try:
            hash(where)
        except TypeError:  # a list where a frame has a line or a path
            return scrubbed
        # The walk's own result stays here, and the caller gets a copy: the strings
        # the walk's caches gave several frames stay shared in a stack's copy.
        done = marshal.dumps(scrubbed)
        # A private copy of the frame's containers; its strings are the frame's own,
        # and an equal frame that shares them (a frame the caller built once) is
        # compared by each string's identity, not its characters.
        seen = _containers(frame)
        entry = _Frame(next(self._serials), seen, done, scrubbed)
        if len(self._frames) >= CACHED_FRAMES:
            self._frames.clear()
        # The same line, reached with other locals (a layer that recurs in the stack).
        same_line = self._frames.setdefault(where, [])
        if len(same_line) >= FRAMES_PER_LINE:
            del same_line[0]
        same_line.append(entry)
        return marshal.loads(done)  # noqa: S302 - as above

    def walk_each(self, value: Any, section: Section) -> Any:
        """A list, or Sentry's {"values": [...]}, of items of one kind."""
        if isinstance(value, list):
            return [section(self, item) for item in value]
        return self.walk_fields(value, {"values": lambda w, v: w.walk_each(v, section)})


class _Frame:
    """A frame scrubbed before: as it was (a private copy), and scrubbed, as
    marshal's bytes and as the walk made it (never handed out)."""

    __slots__ = ("done", "scrubbed", "seen", "serial")

    def __init__(self, serial: int, seen: Any, done: bytes, scrubbed: Any) -> None:
        self.serial = serial
        self.seen = seen
        self.done = done
        self.scrubbed = scrubbed


def _containers(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _containers(item) for key, item in value.items()}
    if kind is list:
        return [_containers(item) for item in value]
    return value


def _where(frame: dict[Any, Any]) -> tuple[Any, ...]:
    return (
        frame.get("context_line"),
        frame.get("lineno"),
        frame.get("abs_path"),
        *map(type, frame.values()),
    )


_SCALARS = (str, int, bool, float, type(None))


def _plain_frame(frame: dict[Any, Any]) -> bool:
    """A frame whose equal frames are scrubbed as it is (see Walker._seen_frame)."""
    return all(
        type(key) is str
        and (
            _plain(value, 1)
            if type(value) is dict or type(value) is list
            else type(value) in _SCALARS
        )
        for key, value in frame.items()
    )


def _plain(value: Any, depth: int) -> bool:
    kind = type(value)
    if kind is str or value is None:
        return True
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if kind is list:
        return all(_plain(v, depth + 1) for v in value)
    return False

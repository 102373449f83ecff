"""A bounded, cycle-safe walk that rebuilds JSON-like data with secrets filtered."""

from __future__ import annotations

import datetime
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
STACKS_ALIKE = 4
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
        # Stacks whose every frame was scrubbed before, by their length and last frame;
        # a few per key, the most recent last.
        self._stacks: dict[Any, list[_Stack]] = {}
        # Stacks of frames without locals or source lines, by their marshal form.
        self._small_stacks: dict[bytes, tuple[dict[str, Any], ...] | bytes] = {}

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
        keys, values, strict = self._keys, self._loose, self._strict
        out = {}
        for key, item in value.items():
            section = sections.get(key)
            if section is not None:
                # A databag's string (a breadcrumb's message) scanned before: no call.
                found = (
                    strict.get(item) if section is Walker.strict and type(item) is str else None
                )
                out[key] = section(self, item) if found is None else found
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
        """A stacktrace's frames: each one scrubbed before is handed out as a copy.

        A stack seen before, whole, is recognised in one comparison: the frames of
        the framework's layers repeat from one event to the next.
        """
        if type(frames) is not list:
            return self.walk_each(frames, Walker.frame)
        if not any(type(f) is dict and ("vars" in f or "pre_context" in f) for f in frames):
            return self._small_frames(frames)
        key = _stack_key(frames)
        for stack in self._stacks.get(key, ()):
            if stack.matches(frames):
                return stack.copy()
        found = [self._seen_frame(frame) for frame in frames]
        if any(entry is None for entry in found):
            return [
                self._new_frame(frame) if entry is None else entry.copy()
                for frame, entry in zip(frames, found, strict=True)
            ]
        entries = cast(list[_Frame], found)
        if len(self._stacks) >= CACHED_STACKS:
            self._stacks.clear()
        # Stacks that end alike (one error reached by several routes).
        alike = self._stacks.setdefault(key, [])
        if len(alike) >= STACKS_ALIKE:
            del alike[0]
        stack = _Stack(entries)
        alike.append(stack)
        return stack.copy()

    def _small_frames(self, frames: list[Any]) -> Any:
        """Frames without locals or source lines (a lean event's), by their exact
        content: marshal's form of the whole stack is made in C at a few bytes a
        frame, cheaper than a walk of its frames. One it cannot hold is walked.

        Version 2 of the format: later versions mark objects that have other
        references (refcounts, not content), so equal stacks would get other keys.
        Its bytes tell 1, 1.0 and True apart, and str from bytes.

        A stack whose scrubbed frames hold nothing but scalars is kept as dicts: a
        copy of each frame's dict is then a copy of the frame, made in C at a
        fraction of what rebuilding the stack from marshal's bytes (how any other
        is kept) would cost."""
        try:
            key = marshal.dumps(frames, 2)
        except (ValueError, TypeError):
            return [self.frame(frame) for frame in frames]
        found = self._small_stacks.get(key)
        if isinstance(found, tuple):
            return list(map(dict, found))
        if found is not None:
            return marshal.loads(found)  # noqa: S302 - bytes this walker wrote itself
        scrubbed = [self.frame(frame) for frame in frames]
        budget = current_budget()
        if budget is None or (budget.chars >= 0 and budget.items >= 0):
            # Copies: the caller may change the frames it is given.
            kept: tuple[dict[str, Any], ...] | bytes
            if _flat(scrubbed):
                kept = tuple(map(dict, scrubbed))
            else:
                try:
                    kept = marshal.dumps(scrubbed)
                except (ValueError, TypeError):
                    return scrubbed
            if len(self._small_stacks) >= CACHED_STACKS:
                self._small_stacks.clear()
            self._small_stacks[key] = kept
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
        # A private copy of the frame's containers; its strings are the frame's own,
        # and an equal frame that shares them (a frame the caller built once) is
        # compared by each string's identity, not its characters.
        entry = _Frame(_containers(frame), scrubbed)
        if len(self._frames) >= CACHED_FRAMES:
            self._frames.clear()
        # The same line, reached with other locals (a layer that recurs in the stack).
        same_line = self._frames.setdefault(where, [])
        if len(same_line) >= FRAMES_PER_LINE:
            del same_line[0]
        same_line.append(entry)
        return entry.copy()

    def walk_each(self, value: Any, section: Section) -> Any:
        """A list, or Sentry's {"values": [...]}, of items of one kind."""
        if isinstance(value, list):
            if type(section) is Fields:
                # Breadcrumbs, exceptions: one call an item, not two.
                walk, sections = self.walk_fields, section.sections
                return [walk(item, sections) for item in value]
            return [section(self, item) for item in value]
        return self.walk_fields(value, {"values": lambda w, v: w.walk_each(v, section)})


class Fields:
    """The section of a dict whose listed fields have their own treatment."""

    __slots__ = ("sections",)

    def __init__(self, sections: Mapping[str, Section]) -> None:
        self.sections = sections

    def __call__(self, walker: Walker, value: Any) -> Any:
        return walker.walk_fields(value, self.sections)


class _Frame:
    """A frame scrubbed before: as it was and as the walk made it (private copies),
    and how to copy the scrubbed frame."""

    __slots__ = ("copier", "scrubbed", "seen")

    def __init__(self, seen: Any, scrubbed: Any) -> None:
        self.seen = seen
        self.scrubbed = scrubbed
        self.copier = _Copier(scrubbed)

    def copy(self) -> Any:
        return self.copier.copy()


class _Stack:
    """A stack whose frames were all scrubbed before."""

    __slots__ = ("copier", "numbers", "seen", "types")

    def __init__(self, entries: list[_Frame]) -> None:
        self.seen = [entry.seen for entry in entries]
        # == is exact where types cannot differ between equal values (see
        # _seen_frame): in a kept frame, only a field that holds a number (1, 1.0
        # and True are equal) has its type compared apart.
        self.numbers = [
            (i, key)
            for i, frame in enumerate(self.seen)
            for key, value in frame.items()
            if type(value) in _NUMBERS
        ]
        self.types = self._types(self.seen)
        # A frame twice in the stack is copied in each place: two objects.
        self.copier = _Copier([entry.scrubbed for entry in entries])

    def _types(self, frames: list[Any]) -> list[type]:
        return [type(frames[i][key]) for i, key in self.numbers]

    def matches(self, frames: list[Any]) -> bool:
        return self.seen == frames and self._types(frames) == self.types

    def copy(self) -> Any:
        return self.copier.copy()


_LEAF, _INNER, _PAIRS = 0, 1, 2


class _Copier:
    """New containers for a value that never changes, which the caller may change;
    the strings are shared.

    dict.copy and list.copy copy in C; every container is listed once, with its
    parent's copy and its key, in the order a walk reaches it, so a copy is one
    loop: no call and no lookup of a key per container.
    """

    __slots__ = ("inner", "plan", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        # (where the copy goes: the index of its parent's copy, under which key;
        # the container copied; what it holds). The copies that hold containers
        # are indexed in the order of the plan, the value's own first.
        self.plan: list[tuple[int, Any, Any, int]] = []
        self.inner = 0
        self._list(value, 0)

    def _list(self, value: Any, parent: int) -> None:
        items = value.items() if type(value) is dict else enumerate(value)
        for key, item in items:
            if type(item) is dict or type(item) is list:
                kind = _kind(item)
                self.plan.append((parent, key, item, kind))
                if kind == _INNER:
                    self.inner += 1
                    self._list(item, self.inner)

    def copy(self) -> Any:
        made = [self.value.copy()]
        for parent, key, value, kind in self.plan:
            if kind == _LEAF:
                made[parent][key] = value.copy()
            elif kind == _INNER:
                made[parent][key] = copy = value.copy()
                made.append(copy)
            else:
                made[parent][key] = [*map(list.copy, value)]
        return made[0]


def _kind(value: Any) -> int:
    items = value.values() if type(value) is dict else value
    if not any(type(item) is dict or type(item) is list for item in items):
        return _LEAF
    if type(value) is list and all(
        type(item) is list and not any(type(v) is dict or type(v) is list for v in item)
        for item in value
    ):
        return _PAIRS
    return _INNER


def _stack_key(frames: list[Any]) -> Any:
    last = frames[-1]
    try:
        return (len(frames), hash(_where(last))) if type(last) is dict else None
    except TypeError:  # an unhashable field
        return None


_NUMBERS = (int, float, bool)


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


def _flat(frames: list[Any]) -> bool:
    """Whether each frame is a dict of scalars only (immutable, copied with the dict)."""
    for frame in frames:
        if type(frame) is not dict:
            return False
        for value in frame.values():
            if type(value) not in _SCALARS:
                return False
    return True

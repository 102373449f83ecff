"""What makes two errors "the same" for the storm guard: type and in-app frame."""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import CodeType, FrameType

from middleware._sdk import set_in_app_in_frames

Fingerprint = tuple[type[BaseException], CodeType | None, int]

# Codes whose in-app verdict is remembered; past it the memory starts over.
_KNOWN_CODES = 4096


class Fingerprints:
    """The exception type plus the innermost in-app frame (else the innermost),
    with in-app decided by the sdk's own rule."""

    def __init__(
        self,
        *,
        in_app_include: Sequence[str] = (),
        in_app_exclude: Sequence[str] = (),
        project_root: str | None = None,
    ) -> None:
        self._include = list(in_app_include)
        self._exclude = list(in_app_exclude)
        # The sdk's default project root, so that frames are in-app where Sentry says so.
        self._project_root = os.getcwd() if project_root is None else project_root
        self._in_app: dict[CodeType, bool] = {}

    def of(self, exc: BaseException) -> tuple[Fingerprint, FrameType | None]:
        """`exc`'s fingerprint and the frame it names (None without a traceback)."""
        entries = []
        tb = exc.__traceback__
        while tb is not None:
            entries.append(tb)
            tb = tb.tb_next
        if not entries:
            return (type(exc), None, 0), None
        # From the inside out: the in-app frame is usually a step or two from the raise.
        chosen = entries[-1]
        known = self._in_app
        for entry in reversed(entries):
            in_app = known.get(entry.tb_frame.f_code)
            if in_app is None:
                in_app = self._learn(entry.tb_frame)
            if in_app:
                chosen = entry
                break
        return (type(exc), chosen.tb_frame.f_code, chosen.tb_lineno), chosen.tb_frame

    def _learn(self, frame: FrameType) -> bool:
        if len(self._in_app) > _KNOWN_CODES:
            self._in_app.clear()
        code = frame.f_code
        # The sdk's own rule, so the fingerprint names the frame Sentry shows as in-app.
        marked = {"module": frame.f_globals.get("__name__"), "abs_path": _abs(code)}
        set_in_app_in_frames([marked], self._exclude, self._include, self._project_root)
        in_app = self._in_app[code] = marked.get("in_app") is True
        return in_app


def label(key: Fingerprint, frame: FrameType | None) -> str:
    """The fingerprint in words: type, module, line and function."""
    exc_type, code, lineno = key
    if frame is None or code is None:
        return exc_type.__qualname__
    module = frame.f_globals.get("__name__") or code.co_filename
    return f"{exc_type.__qualname__} at {module}:{lineno} in {code.co_name}"


def _abs(code: CodeType) -> str | None:
    return os.path.abspath(code.co_filename) if code.co_filename else None

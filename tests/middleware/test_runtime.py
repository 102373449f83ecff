"""The layer keeps its state on the runtime of each sdk client, never in a module."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import weakref
from pathlib import Path
from types import ModuleType

import sentry_sdk
import sentry_sdk.scrubber

import middleware

_MUTABLE = (dict, list, set, bytearray, weakref.WeakKeyDictionary, weakref.WeakValueDictionary)


def _modules() -> list[ModuleType]:
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(middleware.__path__, "middleware.")
    ]


def _is_mutable(value: object) -> bool:
    # A memoised function of the layer keeps a cache between calls, as a dict would.
    ours = str(getattr(value, "__module__", "")).startswith("middleware")
    return isinstance(value, _MUTABLE) or (ours and hasattr(value, "cache_info"))


def test_no_module_of_the_layer_holds_mutable_state() -> None:
    # The sdk's own denylists, imported as they are, are the sdk's.
    sdks = {id(v) for v in vars(sentry_sdk.scrubber).values()}
    found = [
        f"{module.__name__}.{name}"
        for module in _modules()
        for name, value in vars(module).items()
        if not name.startswith("__") and id(value) not in sdks and _is_mutable(value)
    ]
    assert found == []


def test_no_function_of_the_layer_rebinds_a_module_name() -> None:
    package = Path(middleware.__file__).parent
    found = [
        f"{path.name}:{node.lineno}"
        for path in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Global)
    ]
    assert found == []

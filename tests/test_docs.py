"""The docs match the code: every variable read is documented, every README command exists."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic_settings import BaseSettings

from booty.config import BootySettings
from middleware.config.settings import SentrySettings, env_name

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
ADR = ROOT / "docs" / "adr" / "024-sentry-integration.md"
DOCS = [README, *sorted((ROOT / "docs").rglob("*.md"))]

# Commands the README may name that are neither in the repo nor console scripts of ours.
EXTERNAL_COMMANDS = frozenset(
    {"cd", "curl", "git", "journalctl", "node", "npm", "npx", "pip", "python", "python3", "sudo"}
    | {"systemctl", "uvicorn", "export", "install"}
)
REPO_PATH = re.compile(r"^(scripts|bench|systemd|docs)/\S+$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)


def settings_variables(*classes: type[BaseSettings]) -> set[str]:
    return {env_name(cls, field) for cls in classes for field in cls.model_fields}


def _is_environ(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in {"environ", "env"}


def environment_reads(source: str) -> set[str]:
    """Names read through os.environ[...], os.environ.get(...), os.getenv(...) or env.get(...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in {"get", "pop", "setdefault"}:
                if _is_environ(func.value):
                    key = node.args[0]
            elif getattr(func, "attr", getattr(func, "id", "")) == "getenv":
                key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.add(key.value)
    return found


def variables_read_by_code() -> set[str]:
    names = settings_variables(SentrySettings, BootySettings)
    for package in ("middleware", "booty"):
        for path in sorted((ROOT / package).rglob("*.py")):
            names |= environment_reads(path.read_text())
    return names


def documented_variables() -> set[str]:
    return set(ROW.findall(CONFIGURATION.read_text()))


def test_the_scanner_finds_every_way_of_reading_the_environment() -> None:
    source = """
import os
from os import getenv, environ
a = os.environ.get("A_GET")
b = os.environ["B_ITEM"]
c = os.getenv("C_GETENV", "x")
d = getenv("D_BARE")
env = os.environ
e = env.get("E_ALIAS")
f = environ.get("F_FROM_IMPORT")
g = {"NOT_READ": 1}.get("NOT_READ_EITHER")
"""
    assert environment_reads(source) == {
        "A_GET",
        "B_ITEM",
        "C_GETENV",
        "D_BARE",
        "E_ALIAS",
        "F_FROM_IMPORT",
    }


def test_settings_map_to_their_environment_names() -> None:
    names = settings_variables(SentrySettings, BootySettings)
    assert {"SENTRY_DSN", "SENTRY_TRACES_SAMPLE_RATE", "GITHUB_TOKEN", "BOOTY_DB_PATH"} <= names


def test_every_variable_the_code_reads_is_documented() -> None:
    missing = variables_read_by_code() - documented_variables()
    assert not missing, f"not documented in docs/configuration.md: {sorted(missing)}"


def test_every_documented_variable_is_read_somewhere() -> None:
    """A row for a variable nothing reads is a stale or misspelt one."""
    elsewhere = "\n".join(
        path.read_text()
        for folder in ("scripts", "systemd")
        if (ROOT / folder).is_dir()
        for path in sorted((ROOT / folder).iterdir())
        if path.is_file()
    )
    code = variables_read_by_code()
    stale = {name for name in documented_variables() - code if name not in elsewhere}
    assert not stale, f"documented but read by nothing: {sorted(stale)}"


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), re.DOTALL | re.MULTILINE)


def readme_commands() -> list[list[str]]:
    commands = []
    for block in readme_blocks("sh"):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                words = shlex.split(line)
                while words and "=" in words[0]:  # VAR=value command
                    words = words[1:]
                if words:
                    commands.append(words)
    return commands


def console_scripts() -> set[str]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project.get("scripts", {}))


def test_the_readme_keeps_its_two_commands() -> None:
    assert ["scripts/serve"] in readme_commands()
    assert ["scripts/test"] in readme_commands()


def test_every_command_the_readme_names_exists() -> None:
    scripts = console_scripts()
    for words in readme_commands():
        program = words[0].removeprefix(".venv/bin/")
        if "/" in program:
            path = ROOT / program
            assert path.is_file(), f"README names {program}, which does not exist"
            assert os.access(path, os.X_OK), f"README names {program}, which is not executable"
        else:
            assert program in scripts | EXTERNAL_COMMANDS, (
                f"README names {program}, which is no console script in pyproject.toml"
            )
        if program in {"python", "python3"} and words[1:2] == ["-m"]:
            module = words[2].split(".")[0]
            assert (ROOT / module).is_dir() or importlib.util.find_spec(module), (
                f"README runs python -m {words[2]}, which does not exist"
            )
        for word in words[1:]:
            if REPO_PATH.match(word):
                assert (ROOT / word).exists(), f"README names {word}, which does not exist"


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    for target in LINK.findall(document.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (document.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{document.name} links to {target}, which does not exist"


def test_the_readme_links_only_absolute_urls_as_a_package_description() -> None:
    # PyPI and pip show the README out of the repository, where a relative link breaks.
    relative = [t for t in LINK.findall(README.read_text()) if not t.startswith("https://")]
    assert relative == []


def test_the_adr_has_the_usual_sections_and_a_mermaid_diagram() -> None:
    text = ADR.read_text()
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    for section in ("Status", "Date", "Context", "Decision", "Consequences"):
        assert section in headings
    assert "Alternatives considered" in headings
    assert "```mermaid\n" in text


async def test_the_readme_mounting_example_runs() -> None:
    example = readme_blocks("python")[0]
    assert len(example.strip().splitlines()) < 20
    namespace: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102
    app = namespace["app"]
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/orders/7", headers={"X-Request-ID": "req-7"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-7"

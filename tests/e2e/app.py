"""Booty with three more ways to fail, served by uvicorn for the Bugsink tests."""

from __future__ import annotations

from booty.main import create_app

app = create_app()


class LedgerError(Exception):
    pass


@app.get("/e2e/key")
async def missing_key() -> None:
    settings: dict[str, str] = {}
    settings["ledger"]


@app.get("/e2e/zero")
async def divide() -> None:
    rows = 0
    _ = 10 / rows


@app.get("/e2e/ledger")
async def ledger() -> None:
    raise LedgerError("the ledger is closed")

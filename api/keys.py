"""Typed keys of application and request state."""

from __future__ import annotations

from aiohttp import web

from ledger.application import Ledger
from ledger.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
LEDGER = web.AppKey("ledger", Ledger)
REQUEST_ID = web.RequestKey("request_id", str)

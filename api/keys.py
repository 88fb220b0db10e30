"""Typed keys of application and request state."""

from __future__ import annotations

from aiohttp import web

from ledger.application import Ledger
from ledger.settings import Settings
from projections.compliance.service import ComplianceService

SETTINGS = web.AppKey("settings", Settings)
LEDGER = web.AppKey("ledger", Ledger)
COMPLIANCE = web.AppKey("compliance", ComplianceService)
REQUEST_ID = web.RequestKey("request_id", str)

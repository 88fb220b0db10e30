"""Typed keys of application and request state."""

from __future__ import annotations

import asyncio

from aiohttp import web

from commands.group_commit import GroupCommitter
from ledger.application import Ledger
from ledger.integrity.service import Integrity
from ledger.settings import Settings
from projections.compliance.service import ComplianceService
from projections.readmodels.queries import ReadModels
from projections.readmodels.timetravel import TimeTravel

SETTINGS = web.AppKey("settings", Settings)
LEDGER = web.AppKey("ledger", Ledger)
COMPLIANCE = web.AppKey("compliance", ComplianceService)
# runs the commands of concurrent requests in groups, one transaction per group
COMMITTER = web.AppKey("committer", GroupCommitter)
READ_MODELS = web.AppKey("read_models", ReadModels)
TIME_TRAVEL = web.AppKey("time_travel", TimeTravel)
INTEGRITY = web.AppKey("integrity", Integrity)
# exports run one at a time per process: a large CoC's bundle takes seconds and memory
EXPORTS = web.AppKey("integrity_exports", asyncio.Semaphore)
REQUEST_ID = web.RequestKey("request_id", str)

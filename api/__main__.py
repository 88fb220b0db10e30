"""``python -m api``: serve the ledger over HTTP, configured by COC_LEDGER_* variables."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

import structlog
from aiohttp import web
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from api.app import create_app
from commands.base import Caller
from commands.demo import load_demo
from commands.signing_keys import init_key
from ledger.application import Ledger
from ledger.domain.base import Source
from ledger.errors import InvalidInput
from ledger.event_loop import new_event_loop, resolve
from ledger.logging import configure_logging
from ledger.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEMO_OPERATOR = Caller(actor="demo-loader", source=Source.DEMO, request_id="demo")
# The service keeps many long-lived objects (the entity cache, kept users); with CPython's
# default thresholds (700, 10, 10) the collector walks all of them every few seconds under
# load, a pause of 100-200 ms that every request in flight waits out. Young objects are
# still collected often; whole-heap collections become rare (scripts/bench_api measures it).
GC_THRESHOLDS = (20_000, 10, 100)


def _serve(settings: Settings, ledger: Ledger, loop_name: str) -> None:
    log = structlog.get_logger("api")
    if settings.load_demo_data and ledger.head() == 0:
        count = load_demo(ledger)
        log.info("demo data loaded", commands=count, head=ledger.head())
        # the demo signs its checkpoints with a key made for it (an operator runs
        # scripts/signing-key init instead)
        key = init_key(ledger, settings.signing_key_path, DEMO_OPERATOR)
        log.info("demo signing key in force", key_id=key.key_id)
    log.info(
        "serving",
        host=settings.host,
        port=settings.port,
        backend=settings.backend,
        event_loop=loop_name,
    )
    gc.collect()
    gc.freeze()  # what start-up made (modules, the demo data) is never walked again
    gc.set_threshold(*GC_THRESHOLDS)
    web.run_app(
        create_app(settings, ledger),
        loop=new_event_loop(loop_name),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Build everything from the environment's settings, then serve until SIGINT or SIGTERM."""
    argparse.ArgumentParser(
        prog="python -m api",
        description="Serve CoC Ledger over HTTP. Configure it with COC_LEDGER_* environment "
        "variables (COC_LEDGER_DATABASE_URL or COC_LEDGER_SQLITE_PATH, COC_LEDGER_HOST, "
        "COC_LEDGER_PORT, COC_LEDGER_LOAD_DEMO_DATA, COC_LEDGER_LOG_FORMAT, ...).",
    ).parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as err:
        # Without the input values: a database URL can carry a password.
        problems = "\n".join(
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
            for e in err.errors(include_input=False)
        )
        print(f"invalid COC_LEDGER_* configuration:\n{problems}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings, per_loop_turn=True)
    log = structlog.get_logger("api")
    try:
        loop_name = resolve(settings.event_loop)
        ledger = Ledger(settings)
    except InvalidInput as err:
        log.error("invalid configuration", detail=err.message)
        return EXIT_USAGE
    except (PersistenceError, OSError) as err:
        log.error("store unavailable", backend=settings.backend, error=type(err).__name__)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    try:
        _serve(settings, ledger, loop_name)
    except KeyboardInterrupt:
        log.info("interrupted")
        return EXIT_INTERRUPTED
    except OSError as err:  # e.g. the port is taken
        log.error("stopped on error", error=type(err).__name__, detail=str(err))
        return EXIT_FAILED
    except PersistenceError as err:
        log.error("stopped on error", error=type(err).__name__)
        return EXIT_FAILED
    finally:
        ledger.close()
    log.info("stopped")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""structlog set-up shared by the worker, the API and the CLI (style B7).

JSON lines in production, a readable console in a terminal; stdlib loggers (Temporal
SDK, uvicorn, ``workflow.logger``) go through the same processors.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from models.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Configure structlog and stdlib logging once per process."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    # stdlib records (Temporal SDK, workflow.logger, uvicorn) keep their extras, e.g.
    # workflow.logger's `temporal_workflow` dict with the workflow id.
    foreign = [*shared, structlog.stdlib.ExtraAdder()]
    fmt = settings.log_format
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    pre_render: list[Any] = (
        [] if fmt == "console" else [structlog.processors.dict_tracebacks]
    )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *pre_render,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("temporalio.activity", "temporalio.workflow"):
        logging.getLogger(noisy).setLevel(settings.log_level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)

"""structlog set-up shared by the worker, the API and the CLI (style B7).

JSON lines in production, a readable console in a terminal; stdlib loggers (Temporal
SDK, uvicorn, ``workflow.logger``) go through the same processors.

Personal numbers stay out of the logs: every event (structlog's and the stdlib's,
exceptions included) has anything shaped like an 18-character resident ID number, a
mainland mobile number or an e-mail address masked before it is rendered, and the
rendered line is masked once more; uvicorn's access log writes query parameter names
but not their values. A process killed by a fatal signal writes its Python traceback
to stderr first.
"""

from __future__ import annotations

import faulthandler
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from models.idnumber import mask_id_number
from models.settings import Settings

# An ID number (17 digits and a digit or X) or a mobile number (1[3-9] and 9 digits),
# not part of a longer run of digits (timestamps, amounts). Letters around it do not
# protect it (`%3D110101…` in a URL, colour codes in the console are masked too).
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])")
_EMAIL = re.compile(
    r"\b([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)

# A veteran's self-service link is a credential until used or expired
# (models/self_link.py): request and access log lines keep its path, not its token.
_SELF_LINK = re.compile(r"(/self/[a-z-]+/)[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?")


def _mask_mobile(m: re.Match[str]) -> str:
    digits = m.group(0)
    return digits[:-8] + "****" + digits[-4:]


def redact_text(text: str) -> str:
    """``text`` with ID numbers masked like the pages show them (`1101**********123X`),
    mobile numbers as `138****1234` and e-mail addresses as `z***@example.org`."""
    if "@" in text:
        text = _EMAIL.sub(r"\1***@\2", text)
    if "/self/" in text:
        text = _SELF_LINK.sub(r"\1…", text)
    if not any(c.isdigit() for c in text):
        return text
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _MOBILE.sub(_mask_mobile, text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = redact_text(str(value))  # a mobile number passed as an int
        return value if masked == str(value) else masked
    return value


def redact_personal_numbers(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask ID and mobile numbers in every value of the event."""
    for key, value in list(event_dict.items()):
        if key.startswith("_") or key == "exc_info":
            continue  # the LogRecord and exception objects; their text is masked below
        event_dict[key] = _redact(value)
    return event_dict


def _redact_rendered(_logger: Any, _name: str, line: Any) -> Any:
    """Last step after the renderer: the rendered line (tracebacks included), masked."""
    return redact_text(line) if isinstance(line, str) else line


class AccessLogQueryFilter(logging.Filter):
    """Keeps query values out of uvicorn's access log: `/inbox?q=…` stays, the value
    does not (the `request` line of the API's middleware logs the path only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, query = args[2].partition("?")
            if sep:
                names = [p.partition("=")[0] for p in query.split("&") if p]
                hidden = "&".join(f"{n}=…" for n in names)
                record.args = (*args[:2], f"{path}?{hidden}", *args[3:])
        return True


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
            redact_personal_numbers,
            renderer,
            _redact_rendered,
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
    # A fatal signal (SIGBUS from a damaged SQLite -shm, SIGSEGV) cannot be caught or
    # logged by Python code: faulthandler writes every thread's traceback to stderr.
    if not faulthandler.is_enabled():
        faulthandler.enable()
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogQueryFilter) for f in access.filters):
        access.addFilter(AccessLogQueryFilter())

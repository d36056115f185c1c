"""Structured logs: every line says which run (and scale) it belongs to.

Code logs as usual with context in ``extra`` (``log.warning("resource died", extra={"scale":
scale_id, "resource": rid})``). Inside :func:`bind_run`, every line also carries ``run``, even
from helper threads that were started with :func:`in_run_context`. The API's log is then
greppable by run id: ``grep 'run=3f2a…'`` (text) or ``jq 'select(.run == "3f2a…")'`` (JSON,
``SIGNALRISK_LOG_FORMAT=json``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

LogFormat = Literal["text", "json"]
T = TypeVar("T")

_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("signalrisk_run", default=None)
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


@contextmanager
def bind_run(run_id: str) -> Iterator[None]:
    """Within this block, log lines of this thread (and of tasks copied from it) carry ``run``."""
    token = _run.set(run_id)
    try:
        yield
    finally:
        _run.reset(token)


def current_run() -> str | None:
    return _run.get()


def in_run_context(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` bound to the caller's context, for a thread pool (which does not copy it)."""
    context = contextvars.copy_context()

    def call(*args: Any, **kwargs: Any) -> T:
        # A context can be entered by one thread at a time: each call runs in its own copy.
        return context.copy().run(function, *args, **kwargs)

    return call


_BOUND = "signalrisk_bound_run"
_make_record = logging.getLogRecordFactory()


def _record_with_run(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # The run is read when the line is logged, in the logging thread; under another name than
    # "run", which ``extra`` may set (logging refuses an extra key the record already has).
    record = _make_record(*args, **kwargs)
    setattr(record, _BOUND, _run.get())
    return record


logging.setLogRecordFactory(_record_with_run)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context of a record: its ``extra`` keys, and the bound run unless given."""
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and k != _BOUND}
    run = getattr(record, _BOUND, None)
    if run is not None:
        fields.setdefault("run", run)
    return fields


class TextFormatter(logging.Formatter):
    """``2026-11-25 12:00:00,123 WARNING signalrisk.x message run=… resource=…``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = record_fields(record)
        if not fields:
            return line
        context = " ".join(f"{k}={v}" for k, v in fields.items())
        head, sep, trace = line.partition("\n")
        return f"{head} {context}{sep}{trace}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the context, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(log_format: LogFormat = "text", level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` that sends ours and uvicorn's lines through one
    structured handler. Given to uvicorn as ``log_config``, so that each of its worker
    processes (``serve --workers N``) applies it too."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": f"{formatter.__module__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(log_format: LogFormat = "text", level: str = "INFO") -> None:
    """Apply :func:`logging_config` in this process."""
    import logging.config

    logging.config.dictConfig(logging_config(log_format, level))

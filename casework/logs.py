"""Log output: uvicorn's text lines for a terminal, or one JSON object per line.

SAMVERKAN_LOG_FORMAT=json sends the application's, uvicorn's and the error logs to
standard error as JSON lines:

    {"time": "2026-03-02T09:00:00.123Z", "level": "info", "logger": "samverkan.access",
     "message": "GET /arenden/{case_id} 200", "method": "GET", "path": "/arenden/{case_id}",
     "status": 200, "duration_ms": 12.5}

A request is logged with its route's template, not its path (a private link's path holds
its token), and without the client's address. An error carries its exception's type
and stack frames (file, line, function), not the exception's message, which may quote
what a person typed.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

# What `extra` may add to a JSON line (other extras are left out rather than risk data).
EXTRA_FIELDS = ("method", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the request fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in EXTRA_FIELDS:
            if field in record.__dict__:
                line[field] = record.__dict__[field]
        if record.exc_info and record.exc_info[0] is not None:
            kind, _error, trace = record.exc_info
            line["exception"] = {
                "type": f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins."),
                "stack": [
                    f"{frame.filename}:{frame.lineno} in {frame.name}"
                    for frame in traceback.extract_tb(trace)
                ],
            }
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: LogFormat, *, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` mapping, also fit for `uvicorn.run(log_config=...)`.

    "text" is uvicorn's own configuration, unchanged; "json" routes uvicorn's loggers and
    the application's (`samverkan.*`, at `level`) to one JSON handler on standard error,
    and everything else at WARNING and above.
    """
    if log_format == "text":
        from uvicorn.config import LOGGING_CONFIG

        return LOGGING_CONFIG
    handler = {"handlers": ["json"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
        "loggers": {
            "samverkan": {**handler, "level": level},
            "uvicorn": {**handler, "level": "INFO"},
            "uvicorn.error": {**handler, "level": "INFO"},
            "uvicorn.access": {**handler, "level": "INFO"},
        },
    }

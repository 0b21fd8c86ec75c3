"""Structured logging: one JSON object per line, with the fields passed in ``extra``."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName",
                                                                           "color_message"}


# Query parameters whose values never reach a log line: credentials, and free text that may hold
# a customer's personal data (a knowledge-base search is often a customer's own words).
_SECRET_QUERY = re.compile(r"(?<=[?&])(access_token|token|api_key|key|q|text)=[^&\s\"']*", re.IGNORECASE)


class MaskQueryFilter(logging.Filter):
    """Masks secret and free-text query parameters in the access and WebSocket lines the server
    logs (``GET /v1/kb/search?q=***``, ``WebSocket /v1/…?access_token=***``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_"))
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(MaskQueryFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("faster_whisper").setLevel("WARNING")
    logging.getLogger("httpx").setLevel("WARNING")

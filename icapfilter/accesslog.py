"""One access-log line per decision, as JSON lines or a Squid-like text line.

The file is opened in append mode and can be reopened (SIGUSR1, ``reload``)
so newsyslog and logrotate can rotate it without a restart.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from .outcome import Outcome


class AccessLog:
    def __init__(self, path: str, fmt: str = "json") -> None:
        self.path = path
        self.format = fmt
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self.reopen()

    def reopen(self) -> None:
        with self._lock:
            if self.path == "-":
                self._file = sys.stdout
                return
            if self._file is not None:
                self._file.close()
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._file is not sys.stdout:
                self._file.close()
                self._file = None

    def __call__(self, outcome: Outcome, peer: tuple[object, ...], error: str | None) -> None:
        line = self.format_line(outcome, peer, error, outcome.duration_ms)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                if self._file is sys.stdout:
                    self._file.flush()

    def format_line(self, outcome: Outcome, peer: tuple[object, ...], error: str | None,
                    duration_ms: float) -> str:
        verdict = outcome.verdict
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "icap_client": peer[0] if peer else None,
            "client_ip": outcome.client.ip,
            "user": outcome.client.user,
            "service": outcome.service,
            "method": outcome.method,
            "url": outcome.url,
            "icap_status": outcome.status,
            "verdict": ("error" if error else
                        (verdict.action.value if verdict else "-")) + ("-late" if outcome.late
                                                                       else ""),
            "group": verdict.group if verdict else None,
            "category": verdict.category if verdict else None,
            "reason": error or (verdict.reason if verdict else None),
            "phrases": list(verdict.phrases) if verdict else [],
            "score": verdict.score if verdict else None,
            "bytes": outcome.body_bytes,
            "ms": round(duration_ms, 2),
        }
        if self.format == "json":
            return json.dumps(record, ensure_ascii=False)
        fields = [
            str(int(time.time())), str(record["ms"]), record["client_ip"] or "-",
            f"{record['verdict'].upper()}/{outcome.status}", str(outcome.body_bytes),
            outcome.method, outcome.url.replace(" ", "%20"), record["user"] or "-",
            record["group"] or "-", record["category"] or "-",
            json.dumps(record["reason"] or "-", ensure_ascii=False),
        ]
        return " ".join(fields)

"""A finished run's figures as its report.json holds them: read in this one place for compare, runs and baselines."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

SCHEMA_FAMILY = "salvo.report/"


class NotAReport(ValueError):
    """The bytes are not a Salvo report.json (not JSON, another schema, or its figures are missing)."""


def utc(seconds: float | None) -> str:
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class RunFigures:
    run_id: str
    overall: dict  # a stats row (merge.stats_row): requests, rps, error_rate, p50 ... in ms
    labels: dict[str, dict] = field(default_factory=dict)
    start_at: float | None = None
    fleet_size: int | None = None
    verdict: str | None = None  # "pass" or "fail"
    exit_code: int | None = None
    status: str | None = None  # "complete" or "partial"

    def row(self, label: str | None) -> dict | None:
        return self.overall if label is None else self.labels.get(label)

    def value(self, label: str | None, metric: str) -> float | None:
        row = self.row(label)
        return None if row is None else _number(row.get(metric))

    @property
    def open_model(self) -> bool:
        """An open-model run (SALVO_FLEET_RATE, SALVO_RATE): its report has arrivals and intended-time latencies."""
        return "planned" in self.overall or "p99_intended" in self.overall

    @property
    def requests(self) -> int | None:
        value = self.value(None, "requests")
        return None if value is None else int(value)

    @classmethod
    def from_json(cls, raw: bytes) -> RunFigures:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotAReport(f"not valid JSON ({exc})") from None
        return cls.from_report(data)

    @classmethod
    def from_report(cls, data) -> RunFigures:
        if not isinstance(data, dict):
            raise NotAReport("not a JSON object")
        schema = data.get("schema")
        if not isinstance(schema, str) or not schema.startswith(SCHEMA_FAMILY):
            raise NotAReport(f"schema {schema!r} is not a Salvo report ({SCHEMA_FAMILY}N)")
        overall, labels = data.get("overall"), data.get("labels")
        if not isinstance(overall, dict) or not isinstance(labels, dict):
            raise NotAReport("it has no overall and labels figures")
        fleet = data.get("fleet")
        exit_code = data.get("exit_code")
        return cls(
            run_id=str(data.get("run_id") or "?"),
            overall=overall,
            labels={str(label): row for label, row in labels.items() if isinstance(row, dict)},
            start_at=_number(data.get("start_at")),
            fleet_size=len(fleet) if isinstance(fleet, list) else None,
            verdict=data.get("verdict") if isinstance(data.get("verdict"), str) else None,
            exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
            status=data.get("status") if isinstance(data.get("status"), str) else None,
        )

"""The verdict, computed once from the ledger, the merged data and the criteria; exit code included.

FAIL (exit 1) when a member failed, when a member's results are missing or were
rejected (a malformed summary.json: salvo.common.summary_schema), when no request
was recorded at all or none succeeded, when a criterion failed (with no
SALVO_CRITERIA, the default: no failed request), or when a SALVO_REGRESSION
threshold against the baseline run (SALVO_BASELINE_RUN) was crossed. Lost members fail
the run under SALVO_LOST_EXECUTOR_POLICY=fail (exit 4, as do failed members
then); under `continue` the run is PARTIAL, reported, and judged on the data that
arrived, but not a PASS unless SALVO_SHORT_FLEET=pass. Likewise a run started with
fewer executors than expected in per-executor load mode (its total load shrank).
An open-model run whose arrivals fell short of their plan says so in its notes, and
fails beyond SALVO_RATE_TOLERANCE (salvo.controller.openmodel). An interrupted run
never passes (130/143).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from salvo.common.errors import ExitCode
from salvo.common.fleetload import LoadMode
from salvo.controller.criteria import CriterionResult
from salvo.controller.ledger import Ledger, Outcome
from salvo.controller.openmodel import RateCheck
from salvo.controller.regression import ThresholdResult
from salvo.controller.settings import ControllerSettings, LostExecutorPolicy, ShortFleet


@dataclass(frozen=True)
class FleetStrength:
    """How many executors started against how many were expected, and what the operator accepts."""

    started: int
    expected: int | None = None
    per_executor_load: bool = True  # per-executor mode: a short fleet is a smaller total load
    short_may_pass: bool = False  # SALVO_SHORT_FLEET=pass

    @classmethod
    def of(cls, started: int, settings: ControllerSettings) -> FleetStrength:
        return cls(
            started,
            settings.expected_executors,
            per_executor_load=settings.load_mode is LoadMode.PER_EXECUTOR,
            short_may_pass=settings.short_fleet is ShortFleet.PASS,
        )

    @property
    def short(self) -> bool:
        return self.expected is not None and self.started < self.expected

    def note(self) -> str | None:
        if not self.short:
            return None
        split = "" if self.per_executor_load else f"; fleet load split over the {self.started} started"
        return f"started with {self.started} of {self.expected} expected executors{split}"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    exit_code: ExitCode
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts the verdict stands on (a short start), shown with it

    @property
    def word(self) -> str:
        return "PASS" if self.passed else "FAIL"


def judge(
    ledger: Ledger,
    requests: int,
    criteria: list[CriterionResult],
    policy: LostExecutorPolicy,
    interrupted_by: ExitCode | None = None,
    regressions: Sequence[ThresholdResult] = (),
    *,
    failed_requests: int = 0,
    strength: FleetStrength | None = None,
    rate: RateCheck | None = None,
) -> Verdict:
    reasons: list[str] = []
    notes: list[str] = []
    strict = policy is LostExecutorPolicy.FAIL
    if interrupted_by is not None:
        reasons.append(f"the controller was interrupted ({interrupted_by.name}): the run is partial")
    lost = ledger.with_outcome(Outcome.LOST)
    failed = ledger.with_outcome(Outcome.FAILED)
    missing = ledger.with_outcome(Outcome.MISSING)
    rejected = ledger.with_outcome(Outcome.REJECTED)
    for member in failed:
        reasons.append(f"executor {member.describe()} failed: {member.reason}")
    for member in missing:
        reasons.append(f"results of executor {member.describe()} are missing: {member.reason}")
    for member in rejected:
        reasons.append(f"results of executor {member.describe()} {member.reason}")
    if lost and strict:
        reasons.append(
            f"executor(s) lost under SALVO_LOST_EXECUTOR_POLICY=fail: {', '.join(m.describe() for m in lost)}"
        )
    if lost and not strict and not (strength and strength.short_may_pass):
        reasons.append(
            f"executor(s) lost mid-run: {', '.join(m.describe() for m in lost)}: the run is PARTIAL "
            "(SALVO_SHORT_FLEET=pass accepts a short fleet's results)"
        )
    short_note = strength.note() if strength else None
    if short_note:
        notes.append(short_note)
        if strength.per_executor_load and not strength.short_may_pass:
            reasons.append(f"{short_note}: the total load was short of the plan (SALVO_SHORT_FLEET=pass accepts it)")
    rate_note = rate.note() if rate is not None else None
    if rate_note:
        notes.append(rate_note)
        if rate.failing:
            reasons.append(rate_note)
    if requests == 0:
        reasons.append("no request was recorded: no load ran")
    elif failed_requests >= requests:
        reasons.append(f"no request succeeded: all {requests} failed")
    reasons += [f"criterion {r.description}" for r in criteria if not r.passed]
    reasons += [f"regression against the baseline {r.description}" for r in regressions if not r.passed]

    if interrupted_by is not None:
        code = interrupted_by
    elif strict and (lost or failed):
        code = ExitCode.NO_LOAD
    elif reasons:
        code = ExitCode.FAILED
    else:
        code = ExitCode.OK
    return Verdict(passed=code is ExitCode.OK, exit_code=code, reasons=reasons, notes=notes)

"""The verdict, computed once from the ledger, the merged data and the criteria; exit code included.

FAIL (exit 1) when a member failed, when a member's results are missing or were
rejected (a malformed summary.json: salvo.common.summary_schema), when
no request was recorded at all, when a criterion failed, or when a SALVO_REGRESSION
threshold against the baseline run (SALVO_BASELINE_RUN) was crossed. Lost members fail
the run under SALVO_LOST_EXECUTOR_POLICY=fail (exit 4, as do failed members
then); under `continue` they are tolerated and reported, and criteria are
judged on the data that arrived. An interrupted run never passes (130/143).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from salvo.common.errors import ExitCode
from salvo.controller.criteria import CriterionResult
from salvo.controller.ledger import Ledger, Outcome
from salvo.controller.regression import ThresholdResult
from salvo.controller.settings import LostExecutorPolicy


@dataclass(frozen=True)
class Verdict:
    passed: bool
    exit_code: ExitCode
    reasons: list[str] = field(default_factory=list)

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
) -> Verdict:
    reasons: list[str] = []
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
    if requests == 0:
        reasons.append("no request was recorded: no load ran")
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
    return Verdict(passed=code is ExitCode.OK, exit_code=code, reasons=reasons)

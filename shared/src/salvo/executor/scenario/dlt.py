"""Keys AWS Distributed Load Testing writes into test.json that are DLT's own, not bzt's, and what Salvo makes of them.

DLT's API (api-services createTest) copies each region's task settings into
`execution[0]`: `concurrency` (users of every task - bzt's own key, which Salvo's
default per-executor mode runs on every executor, as DLT runs it on every task)
and `taskCount` (how many tasks DLT starts). In Salvo the fleet is the executors
the controller finds (SALVO_EXPECTED_EXECUTORS), so `taskCount` is taken out of
the config bzt runs and checked against the fleet at the start: a different
fleet size, or fleet mode (which would split DLT's per-task concurrency), is
logged as a warning naming both numbers. Every other key DLT writes is bzt's
(docs/dlt.md lists them all); its `reporting:` outputs: `salvo.executor.scenario.reportfiles`.
"""

from __future__ import annotations

from typing import Any

from salvo.common.errors import ScenarioError
from salvo.common.fleetload import LoadMode
from salvo.executor.scenario.executions import execution_items

__all__ = ["TASK_COUNT", "drop_task_counts", "fleet_warning", "task_counts"]

TASK_COUNT = "taskCount"


def task_counts(config: dict[str, Any]) -> list[int]:
    """DLT's taskCount of every execution item of `config` that has one; ScenarioError for one that is no count."""
    counts = []
    for number, item in enumerate(execution_items(config), 1):
        if TASK_COUNT not in item:
            continue
        value = item[TASK_COUNT]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ScenarioError(f"execution item {number}: {TASK_COUNT} must be a whole number of tasks, not {value!r}")
        counts.append(value)
    return counts


def drop_task_counts(config: dict[str, Any]) -> None:
    """Take DLT's taskCount out of every execution item of `config` (in place): bzt has no such key."""
    for item in execution_items(config):
        item.pop(TASK_COUNT, None)


def fleet_warning(task_counts: list[int], fleet_size: int, mode: LoadMode) -> str | None:
    """What differs between the run DLT's test.json describes and the fleet that started; None when nothing."""
    if not task_counts:
        return None
    expected = max(task_counts)
    if mode is LoadMode.FLEET:
        return (
            f"the scenario is DLT's (taskCount {expected}): its concurrency is per task, but fleet mode splits "
            f"it across the {fleet_size} executor(s); per-executor mode (the default) runs it on each"
        )
    if fleet_size != expected:
        return (
            f"the scenario is DLT's with taskCount {expected} but {fleet_size} executor(s) started: each runs "
            f"the full concurrency, so the load is {fleet_size}/{expected} of DLT's; set SALVO_EXPECTED_EXECUTORS "
            f"on the controller to {expected} to wait for them all"
        )
    return None

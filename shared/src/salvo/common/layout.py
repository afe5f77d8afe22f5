"""Where a run's files live in S3; both sides spell the layout through these functions only.

{SALVO_RESULTS_URI}{run_id}/executors/{executor_id}/summary.json   (+ the load tool's artifacts)
{SALVO_RESULTS_URI}{run_id}/report.json, report.html, junit.xml
"""

from __future__ import annotations

from salvo.common.s3location import S3Location

SUMMARY = "summary.json"
REPORT_FILES = ("report.json", "junit.xml", "report.html")
WRITE_CHECKS = "_salvo-write-checks"


def run_location(results: S3Location, run_id: str) -> S3Location:
    return results.child(run_id + "/")


def executors_location(results: S3Location, run_id: str) -> S3Location:
    return run_location(results, run_id).child("executors/")


def executor_location(results: S3Location, run_id: str, executor_id: str) -> S3Location:
    return executors_location(results, run_id).child(executor_id + "/")


def summary_location(results: S3Location, run_id: str, executor_id: str) -> S3Location:
    return executor_location(results, run_id, executor_id).child(SUMMARY)


def write_check_location(results: S3Location, who: str) -> S3Location:
    """A marker object proving `who` may write under the results prefix (written while arming)."""
    return results.child(WRITE_CHECKS, who)

"""Arming: everything slow before the executor says it is ready.

Fetch the scenario, unpack and check it, write the bzt configuration, and prove
the results can be written - all before "armed", so that a mistake shows before
the start and never costs a test run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from salvo.common.bounded import SizeLimit
from salvo.common.errors import ScenarioError, ScenarioFetchError, UploadError
from salvo.common.layout import write_check_location
from salvo.common.store import Store
from salvo.executor.run.fleetplace import max_users_refusal, rate_shape_refusal
from salvo.executor.scenario.bztconfig import LoadProfile, RunPlan, prepare_run
from salvo.executor.scenario.testdata import TestData, fetch_test_data
from salvo.executor.scenario.unpack import BundleLimits, Scenario, unpack
from salvo.executor.settings import ExecutorSettings

log = logging.getLogger(__name__)


class ResultsNotWritable(ScenarioFetchError):
    """The executor may not write under SALVO_RESULTS_URI, so its results would be lost.

    Check the bucket and prefix in SALVO_RESULTS_URI and that the task role may
    s3:PutObject under it.
    """


@dataclass(frozen=True)
class PreparedRun:
    scenario: Scenario
    plan: RunPlan
    artifacts_dir: Path


class ScenarioPreparer:
    def __init__(self, settings: ExecutorSettings, store: Store):
        self.settings = settings
        self.store = store

    def fetch(self, run_dir: Path) -> tuple[Path, str]:
        """Download the scenario object into the run folder: (path, sha256). At most SALVO_MAX_SCENARIO_BYTES."""
        source = self.settings.scenario_uri
        downloaded = run_dir / "download" / source.key.rsplit("/", 1)[-1]
        limit = SizeLimit(self.settings.max_scenario_bytes, "SALVO_MAX_SCENARIO_BYTES")
        sha256 = self.store.download(source, downloaded, limit=limit)
        log.info("fetched %s (sha256 %s)", source, sha256)
        return downloaded, sha256

    def prepare(self, downloaded: Path, sha256: str, run_dir: Path) -> PreparedRun:
        s = self.settings
        limits = BundleLimits(max_bytes=s.bundle_max_bytes, max_files=s.bundle_max_files)
        scenario = unpack(
            downloaded,
            downloaded.name,
            sha256,
            run_dir,
            entry=s.scenario_entry,
            limits=limits,
            source=str(s.scenario_uri),
        )
        artifacts = run_dir / "artifacts"
        profile = LoadProfile(
            users=s.users, duration=s.duration, spawn_rate=s.spawn_rate, ramp_up=s.ramp_up, target_host=s.target_host
        )
        plan = prepare_run(scenario, profile, artifacts, run_dir / "bzt")
        # SALVO_RATE is known now; the controller's SALVO_FLEET_RATE only with the start (refused then)
        if s.rate is not None and (refusal := rate_shape_refusal(s.rate, plan)):
            raise ScenarioError(refusal)
        if refusal := max_users_refusal(s, plan):
            raise ScenarioError(refusal)
        return PreparedRun(scenario=scenario, plan=plan, artifacts_dir=artifacts)

    def fetch_data(self, run_dir: Path) -> TestData | None:
        """SALVO_DATA_URI, fetched and counted while arming (a missing file is exit 3 now, not at the start)."""
        if self.settings.data_uri is None:
            return None
        return fetch_test_data(
            self.store,
            self.settings.data_uri,
            run_dir,
            self.settings.data_header,
            max_bytes=self.settings.max_data_bytes,
        )

    def verify_results_destination(self, executor_id: str) -> None:
        """Write a small marker under SALVO_RESULTS_URI: results that cannot be uploaded are refused now."""
        marker = write_check_location(self.settings.results_uri, executor_id)
        try:
            self.store.upload_bytes(
                json.dumps({"executor_id": executor_id, "purpose": "write check while arming"}).encode(),
                marker,
                "application/json",
            )
        except UploadError as exc:
            prefix = self.settings.results_uri
            raise ResultsNotWritable(
                f"SALVO_RESULTS_URI={self.settings.results_uri} is not writable (bucket {prefix.bucket!r}, "
                f"prefix {prefix.key!r}): {exc}"
            ) from None

"""`salvo upload` checks like an executor; a host only executors can supply is a note, not a refusal."""

from __future__ import annotations

import pytest

from salvo.common.errors import ScenarioError
from salvo.upload import validate_and_upload

HOSTLESS = (
    "from locust import HttpUser, task\n\nclass Shopper(HttpUser):\n    @task\n    def index(self):\n        pass\n"
)


class RecordingStore:
    def __init__(self):
        self.uploads = []

    def upload_file(self, path, location):
        self.uploads.append((path.name, str(location)))


def test_hostless_locustfile_is_uploaded_with_a_note(tmp_path, capsys):
    source = tmp_path / "shop.py"
    source.write_text(HOSTLESS)
    store = RecordingStore()
    assert validate_and_upload(str(source), "s3://bucket/scenarios/", store=store) == 0
    assert store.uploads == [("shop.py", "s3://bucket/scenarios/shop.py")]
    out, err = capsys.readouterr()
    assert err.strip() == (
        "note: shop.py: User class Shopper has no host and nothing else names one: set `host` on the class, "
        "`default-address` in the Taurus scenario, or SALVO_TARGET_HOST (executors without SALVO_TARGET_HOST "
        "refuse it)"
    )
    assert out.startswith("uploaded ")


def test_a_broken_scenario_is_not_uploaded(tmp_path):
    source = tmp_path / "t.yml"
    source.write_text("execution:\n- executor: locust\n  scenario: missing.py\n")
    store = RecordingStore()
    with pytest.raises(ScenarioError, match=r"t\.yml: execution item 1 refers to scenario 'missing.py'"):
        validate_and_upload(str(source), "s3://bucket/scenarios/t.yml", store=store)
    assert store.uploads == []


def test_upload_from_a_machine_without_jmeter_notes_it_instead_of_refusing(tmp_path, monkeypatch):
    import json as _json

    from salvo.executor.scenario.checks import check_scenario
    from salvo.executor.scenario.unpack import EntryKind, Scenario

    (tmp_path / "test.jmx").write_text("<jmeterTestPlan/>")
    entry = tmp_path / "test.json"
    entry.write_text(
        _json.dumps(
            {
                "execution": [{"executor": "jmeter", "concurrency": 2, "scenario": {"script": "test.jmx"}}],
                "modules": {"jmeter": {"path": str(tmp_path / "no-jmeter-here")}},
            }
        )
    )
    scenario = Scenario(root=tmp_path, entry=entry, kind=EntryKind.TAURUS, sha256="0" * 64)
    monkeypatch.setenv("PATH", str(tmp_path))  # no jmeter on this machine
    checked = check_scenario(scenario, require_tools=False)
    assert checked.tools_elsewhere == [
        "bzt executor 'jmeter' needs command jmeter (on PATH or ~/.bzt/jmeter-taurus/*/bin/jmeter)"
    ]


def test_a_bundle_with_a_hostless_jmeter_plan_is_uploaded_with_a_note(tmp_path, capsys, monkeypatch):
    import json as _json
    import zipfile

    plan = (
        '<jmeterTestPlan><hashTree><TestPlan testclass="TestPlan" testname="p"/><hashTree>'
        '<ThreadGroup testclass="ThreadGroup" testname="g"/><hashTree>'
        '<HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="Home page">'
        '<stringProp name="HTTPSampler.path">/</stringProp></HTTPSamplerProxy><hashTree/>'
        "</hashTree></hashTree></hashTree></jmeterTestPlan>"
    )
    source = tmp_path / "dlt.zip"
    with zipfile.ZipFile(source, "w") as bundle:
        bundle.writestr(
            "test.json", _json.dumps({"execution": [{"executor": "jmeter", "scenario": {"script": "test.jmx"}}]})
        )
        bundle.writestr("test.jmx", plan)
    monkeypatch.setenv("PATH", str(tmp_path))  # a bastion without JMeter: noted too
    store = RecordingStore()
    assert validate_and_upload(str(source), "s3://bucket/scenarios/", store=store) == 0
    assert store.uploads == [("dlt.zip", "s3://bucket/scenarios/dlt.zip")]
    notes = capsys.readouterr().err.splitlines()
    assert notes[1] == (
        "note: test.json: test.jmx: HTTP sampler names no host (Home page): set SALVO_TARGET_HOST, a host in the plan "
        "(sampler or HTTP Request Defaults), or default-address in the Taurus scenario (executors without "
        "SALVO_TARGET_HOST refuse it)"
    )


def test_a_locustfile_whose_rate_shape_fails_is_not_uploaded(tmp_path):
    source = tmp_path / "shaped.py"
    source.write_text(
        HOSTLESS + "from salvo.rate import RateShape\n"
        "class Ramp(RateShape):\n    def rate(self, run_time):\n        return 10 - run_time\n"
    )
    store = RecordingStore()
    with pytest.raises(ScenarioError) as caught:
        validate_and_upload(str(source), "s3://bucket/scenarios/", store=store)
    assert str(caught.value) == "shaped.py: rate shape Ramp: rate(11) returned -1.0: a rate cannot be negative"
    assert store.uploads == []

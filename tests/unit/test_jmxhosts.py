"""JMeter plans' hosts: which HTTP samplers name one (their own, HTTP Request Defaults in scope, an absolute
URL), the refusal of those that do not, and the copy that gives them SALVO_TARGET_HOST."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from salvo.common.errors import ScenarioError
from salvo.executor.scenario.bztconfig import LoadProfile, write_plan
from salvo.executor.scenario.checks import check_scenario
from salvo.executor.scenario.jmxhosts import hostless_message, parse_plan, with_host
from salvo.executor.scenario.unpack import EntryKind, Scenario

TARGET = "http://127.0.0.1:8080"


def sampler(
    name: str,
    domain: str = "",
    path: str = "/",
    port: str = "",
    protocol: str = "",
    *,
    enabled: bool = True,
    children: str = "",
) -> str:
    props = "".join(
        f'<stringProp name="HTTPSampler.{key}">{value}</stringProp>'
        for key, value in (("domain", domain), ("port", port), ("protocol", protocol), ("path", path))
        if value or key == "domain"
    )
    flag = "" if enabled else ' enabled="false"'
    return (
        f'<HTTPSamplerProxy guiclass="HttpTestSampleGui" testclass="HTTPSamplerProxy" testname="{name}"{flag}>'
        f'{props}<stringProp name="HTTPSampler.method">GET</stringProp></HTTPSamplerProxy>'
        f"<hashTree>{children}</hashTree>"
    )


def defaults(domain: str = "", port: str = "", protocol: str = "", *, enabled: bool = True) -> str:
    props = "".join(
        f'<stringProp name="HTTPSampler.{key}">{value}</stringProp>'
        for key, value in (("domain", domain), ("port", port), ("protocol", protocol))
    )
    flag = "" if enabled else ' enabled="false"'
    return (
        f'<ConfigTestElement guiclass="HttpDefaultsGui" testclass="ConfigTestElement" '
        f'testname="HTTP Request Defaults"{flag}>{props}</ConfigTestElement><hashTree/>'
    )


def group(body: str, name: str = "users", tag: str = "ThreadGroup", *, enabled: bool = True) -> str:
    flag = "" if enabled else ' enabled="false"'
    return f'<{tag} guiclass="x" testclass="{tag}" testname="{name}"{flag}/><hashTree>{body}</hashTree>'


def controller(body: str, name: str = "steps") -> str:
    return group(body, name, "GenericController")


def plan_text(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6.3">'
        '<hashTree><TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="plan"/>'
        f"<hashTree>{body}</hashTree></hashTree></jmeterTestPlan>"
    )


def parsed(tmp_path: Path, body: str, name: str = "test.jmx"):
    path = tmp_path / name
    path.write_text(plan_text(body))
    return parse_plan(path, name)


def hostless(tmp_path: Path, body: str) -> list[str]:
    return [s.name for s in parsed(tmp_path, body).unaddressed]


# --- which samplers name a host --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (group(sampler("own", domain="shop.example")), []),
        (group(sampler("expression", domain="${host}")), []),
        (group(sampler("property", domain="${__P(target.host)}")), []),
        (group(sampler("absolute", path="http://shop.example/cart")), []),
        (group(sampler("absolute-tls", path="https://shop.example/cart")), []),
        (group(sampler("url-in-a-variable", path="${next_url}")), []),  # may be a whole URL: not refused
        (group(sampler("blank", domain="  ")), ["blank"]),
        (group(sampler("relative", path="/cart")), ["relative"]),
        (defaults("shop.example") + group(sampler("plan-defaults")), []),
        (group(defaults("${__P(target.host,shop)}") + sampler("group-defaults")), []),
        (
            group(defaults(port="8080", protocol="https") + sampler("defaults-without-domain")),
            ["defaults-without-domain"],
        ),
        (group(sampler("own-defaults", children=defaults("shop.example"))), []),
        (group(controller(controller(sampler("deep")))), ["deep"]),
        (group(controller(defaults("shop.example") + controller(sampler("deep-in-scope")))), []),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_sampler_names_a_host_by_its_domain_defaults_in_scope_or_an_absolute_url(tmp_path, body, expected):
    assert hostless(tmp_path, body) == expected


def test_defaults_apply_to_their_scope_only(tmp_path):
    body = (
        group(controller(defaults("a.example") + sampler("inside")) + sampler("beside"), "one")
        + group(sampler("other group"), "two")
        + group(sampler("sibling", children=defaults("b.example")) + sampler("next to it"), "three")
    )
    assert hostless(tmp_path, body) == ["beside", "other group", "next to it"]


def test_disabled_elements_count_for_nothing(tmp_path):
    body = (
        defaults("shop.example", enabled=False)
        + group(sampler("runs") + sampler("disabled sampler", enabled=False))
        + group(sampler("in a disabled group"), "off", enabled=False)
        + group(
            controller(sampler("under a disabled controller")).replace(
                'testname="steps"', 'testname="steps" enabled="false"'
            )
        )
    )
    assert hostless(tmp_path, body) == ["runs"]
    assert [s.name for s in parsed(tmp_path, body).samplers] == ["runs"]


def test_test_fragment_samplers_count_only_when_no_defaults_anywhere_could_reach_them(tmp_path):
    fragment = group(sampler("in fragment"), "pieces", "TestFragmentController")
    assert hostless(tmp_path, fragment + group(sampler("main", domain="shop"))) == ["in fragment"]
    # a Module Controller in this group may run the fragment under these Defaults
    assert hostless(tmp_path, fragment + group(defaults("shop") + sampler("main"))) == []


def test_old_sampler_elements_are_http_samplers_too(tmp_path):
    body = group(
        '<HTTPSampler2 guiclass="HttpTestSampleGui2" testclass="HTTPSampler2" testname="old">'
        '<stringProp name="HTTPSampler.path">/</stringProp></HTTPSampler2><hashTree/>'
    )
    assert hostless(tmp_path, body) == ["old"]


def test_the_refusal_is_one_line_naming_the_plan_and_a_few_samplers(tmp_path):
    plan = parsed(tmp_path, group("".join(sampler(f"page {n}") for n in range(1, 6))))
    assert hostless_message(plan, "plans/test.jmx") == (
        "plans/test.jmx: HTTP samplers name no host (page 1, page 2, page 3 and 2 more): set SALVO_TARGET_HOST, "
        "a host in the plan (sampler or HTTP Request Defaults), or default-address in the Taurus scenario"
    )
    single = parsed(tmp_path, group(sampler("Home page") + sampler("ok", domain="h")))
    assert hostless_message(single, "t.jmx").startswith("t.jmx: HTTP sampler names no host (Home page): ")
    assert hostless_message(parsed(tmp_path, group(sampler("ok", domain="h"))), "t.jmx") is None


def test_unnamed_samplers_are_numbered(tmp_path):
    assert hostless(tmp_path, group(sampler("").replace(' testname=""', ""))) == ["HTTP Request #1"]


# --- hostile or broken XML ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<jmeterTestPlan>&b;</jmeterTestPlan>",
        '<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><jmeterTestPlan/>',
    ],
    ids=["entities", "external-dtd"],
)
def test_doctype_and_entities_are_refused_before_parsing(tmp_path, text):
    (tmp_path / "evil.jmx").write_text(text)
    with pytest.raises(ScenarioError, match=r"^evil\.jmx: has a DOCTYPE declaration"):
        parse_plan(tmp_path / "evil.jmx", "evil.jmx")


def test_broken_xml_is_refused_with_its_position(tmp_path):
    (tmp_path / "t.jmx").write_text("<jmeterTestPlan>\n  <hashTree>\n</jmeterTestPlan>")
    with pytest.raises(ScenarioError) as caught:
        parse_plan(tmp_path / "t.jmx", "t.jmx")
    assert str(caught.value) == "t.jmx: not a readable JMeter plan: mismatched tag (line 3, column 3)"


def test_absurd_nesting_is_refused(tmp_path):
    (tmp_path / "t.jmx").write_text("<a>" * 500 + "</a>" * 500)
    with pytest.raises(ScenarioError, match="nested more than 400 levels"):
        parse_plan(tmp_path / "t.jmx", "t.jmx")


# --- the copy that gives hostless samplers the target host ----------------------------------------------


def props_of(text: bytes) -> dict[str, dict[str, str]]:
    root = ET.fromstring(text)
    return {
        e.get("testname"): {p.get("name").split(".", 1)[1]: p.text or "" for p in e if p.get("name")}
        for e in root.iter("HTTPSamplerProxy")
    }


def test_the_copy_fills_only_what_nothing_else_sets_and_only_on_hostless_samplers(tmp_path):
    body = group(
        sampler("hostless", path="/cart")
        + sampler("own host", domain="cdn.example")  # blank port and protocol: must stay blank
        + sampler("absolute", path="https://other.example/x")
        + sampler("own port", path="cart", port="9000")
        + sampler("variable", path="${url}")
        + controller(defaults(protocol="https") + sampler("defaults protocol"))
    )
    plan = parsed(tmp_path, body)
    original = (tmp_path / "test.jmx").read_bytes()
    hosted = with_host(plan, "http://10.0.0.5:8080/api", "test.jmx")
    assert hosted.samplers == 4
    got = props_of(hosted.text)
    assert got["hostless"] == {
        "domain": "10.0.0.5",
        "port": "8080",
        "protocol": "http",
        "path": "/api/cart",
        "method": "GET",
    }
    assert got["own host"] == {"domain": "cdn.example", "path": "/", "method": "GET"}
    assert got["absolute"] == {"domain": "", "path": "https://other.example/x", "method": "GET"}
    assert got["own port"] == {
        "domain": "10.0.0.5",
        "port": "9000",
        "protocol": "http",
        "path": "/api/cart",
        "method": "GET",
    }
    assert got["variable"]["domain"] == "10.0.0.5" and got["variable"]["path"] == "${url}"
    assert got["defaults protocol"] == {"domain": "10.0.0.5", "port": "8080", "path": "/api/", "method": "GET"}
    assert (tmp_path / "test.jmx").read_bytes() == original  # the user's plan is never touched
    assert parse_plan_text(tmp_path, hosted.text).hostless == []


def parse_plan_text(tmp_path: Path, text: bytes):
    (tmp_path / "copy.jmx").write_bytes(text)
    return parse_plan(tmp_path / "copy.jmx", "copy.jmx")


def test_a_target_without_port_or_path_leaves_them_to_jmeter(tmp_path):
    plan = parsed(tmp_path, group(sampler("a", path="/x")))
    got = props_of(with_host(plan, "https://shop.example", "t.jmx").text)["a"]
    assert got == {"domain": "shop.example", "protocol": "https", "path": "/x", "method": "GET"}


def test_a_default_address_that_is_no_url_is_refused(tmp_path):
    plan = parsed(tmp_path, group(sampler("a")))
    with pytest.raises(ScenarioError, match=r"^t\.jmx: its samplers that name no host cannot be sent to 'shop'"):
        with_host(plan, "shop", "t.jmx")


# --- through the executor's checks and run plan -----------------------------------------------------------


def jmeter_scenario(tmp_path: Path, plan_body: str, scenario: dict | None = None) -> Scenario:
    (tmp_path / "test.jmx").write_text(plan_text(plan_body))
    (tmp_path / "data.csv").write_text("x\n")
    entry = tmp_path / "test.json"
    entry.write_text(
        json.dumps(
            {
                "execution": [{"executor": "jmeter", "concurrency": 2, "hold-for": "5s", "scenario": "s"}],
                "scenarios": {"s": {"script": "test.jmx", **(scenario or {})}},
                "modules": {"jmeter": {"path": str(tmp_path / "no-jmeter-here")}},
            }
        )
    )
    return Scenario(root=tmp_path, entry=entry, kind=EntryKind.TAURUS, sha256="0" * 64)


def test_checks_report_hostless_samplers_unless_an_address_is_given(tmp_path):
    scenario = jmeter_scenario(tmp_path, group(sampler("Home page") + sampler("Login")))
    checked = check_scenario(scenario, require_tools=False)
    assert checked.unaddressed == [
        "test.json: test.jmx: HTTP samplers name no host (Home page, Login): set SALVO_TARGET_HOST, a host in "
        "the plan (sampler or HTTP Request Defaults), or default-address in the Taurus scenario"
    ]
    with pytest.raises(ScenarioError, match=r"^test\.json: test\.jmx: HTTP samplers name no host"):
        checked.require_hosts()
    assert check_scenario(scenario, target_host=TARGET, require_tools=False).unaddressed == []
    own = jmeter_scenario(tmp_path, group(sampler("Home page")), {"default-address": TARGET})
    assert check_scenario(own, require_tools=False).unaddressed == []


def test_a_missing_or_broken_plan_is_refused_naming_the_config(tmp_path):
    scenario = jmeter_scenario(tmp_path, "")
    (tmp_path / "test.jmx").unlink()
    with pytest.raises(ScenarioError, match=r"^test\.json: JMeter plan test\.jmx does not exist in the scenario$"):
        check_scenario(scenario, require_tools=False)
    (tmp_path / "test.jmx").write_text("<jmeterTestPlan>")
    with pytest.raises(ScenarioError, match=r"^test\.json: test\.jmx: not a readable JMeter plan: "):
        check_scenario(scenario, require_tools=False)


def planned(tmp_path: Path, scenario: Scenario, target: str | None) -> dict:
    checked = check_scenario(scenario, target_host=target, require_tools=False)
    checked.require_hosts()
    profile = LoadProfile(users=1, duration=1.0, target_host=target)
    plan = write_plan(checked, profile, tmp_path / "artifacts", tmp_path / "plan")
    return yaml.safe_load(plan.configs[0].read_text())


def test_the_run_plan_runs_a_copy_beside_the_plan_with_the_target_host(tmp_path, monkeypatch):
    monkeypatch.setattr("salvo.executor.scenario.bztconfig.locate_jmeter", _no_jmeter_needed)
    scenario = jmeter_scenario(tmp_path, group(sampler("Home page") + sampler("cdn", domain="cdn.example")))
    original = (tmp_path / "test.jmx").read_bytes()
    config = planned(tmp_path, scenario, TARGET)
    script = Path(config["scenarios"]["s"]["script"])
    assert script == tmp_path / "salvo_host_0_test.jmx"  # beside it: relative paths in the plan still resolve
    got = props_of(script.read_bytes())
    assert got["Home page"]["domain"] == "127.0.0.1" and got["Home page"]["port"] == "8080"
    assert got["cdn"] == {"domain": "cdn.example", "path": "/", "method": "GET"}
    assert (tmp_path / "test.jmx").read_bytes() == original


def test_a_plan_whose_samplers_all_name_a_host_runs_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setattr("salvo.executor.scenario.bztconfig.locate_jmeter", _no_jmeter_needed)
    scenario = jmeter_scenario(tmp_path, defaults("${__P(target.host)}") + group(sampler("Home page")))
    config = planned(tmp_path, scenario, TARGET)
    assert config["scenarios"]["s"]["script"] == "test.jmx"
    assert not list(tmp_path.glob("salvo_host_*"))


def test_the_scenarios_own_default_address_wins_over_the_target_host(tmp_path, monkeypatch):
    monkeypatch.setattr("salvo.executor.scenario.bztconfig.locate_jmeter", _no_jmeter_needed)
    scenario = jmeter_scenario(tmp_path, group(sampler("Home page")), {"default-address": "https://own.example"})
    config = planned(tmp_path, scenario, TARGET)
    got = props_of(Path(config["scenarios"]["s"]["script"]).read_bytes())["Home page"]
    assert (got["domain"], got["protocol"]) == ("own.example", "https")


def test_jmeter_requests_get_the_target_as_default_address_and_are_refused_without_one(tmp_path):
    entry = tmp_path / "t.json"
    entry.write_text(
        json.dumps(
            {
                "execution": [{"executor": "jmeter", "scenario": {"requests": ["/cart", "http://h/x"]}}],
                "modules": {"jmeter": {"path": str(tmp_path / "none")}},
            }
        )
    )
    scenario = Scenario(root=tmp_path, entry=entry, kind=EntryKind.TAURUS, sha256="0" * 64)
    assert check_scenario(scenario, require_tools=False).unaddressed == [
        "t.json: the inline scenario of execution item 1: request URL '/cart' is relative and nothing names a "
        "host: set `default-address` in the Taurus scenario, or SALVO_TARGET_HOST"
    ]
    assert check_scenario(scenario, target_host=TARGET, require_tools=False).unaddressed == []


def _no_jmeter_needed(_path):
    from salvo.executor.scenario.jmeterplan import JMeterInstall

    return JMeterInstall(command=Path("/opt/jmeter/bin/jmeter"), gate_script=Path("/opt/jmeter/bin/salvo-gate.groovy"))

"""The README and docs/ say only what is true of the code: generated tables, verbs, targets and variables."""

import re
from pathlib import Path

from salvo.cli import build_parser
from salvo.common import fleetload
from salvo.common.defaults import COMMAND_PORT, STATUS_PORT
from salvo.common.environment import BUILD_AND_REHEARSAL, RESERVED_PREFIXES, SET_FOR_SCENARIOS
from salvo.common.settings import CommonSettings, describe_variables
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings
from tests.support.deploy import ROLE_MODELS, SALVO_VARIABLE, known_variables

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
TYPO_EXAMPLES = {"SALVO_USER"}  # security.md shows the refusal of a misspelt variable
README_MAX_LINES = 200  # a newcomer's first page: everything longer belongs in docs/

CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)  # fenced blocks and inline code spans
SALVO_VERB = re.compile(r"(?:^|[\s`(;&|$=])(?<!from )salvo ([a-z][a-z-]*)", re.M)  # not `from salvo import`
MAKE_TARGET = re.compile(r"(?:^|[\s`(;&|])make ([a-z][a-z0-9-]*)", re.M)
MAKEFILE_TARGET = re.compile(r"^([a-z][a-z0-9-]*):", re.M)
LOCAL_LINK = re.compile(r"\]\((?!https?:)([^)#\s]+)(?:#([^)\s]+))?\)")  # [text](path#anchor)
HEADING = re.compile(r"^#+ (.+)$", re.M)
FENCED = re.compile(r"```.*?```", re.S)  # its "# comments" are no headings
PORT_RANGE = re.compile(r"(?:TCP|ports?) (\d+)-(\d+)")  # "the executors accept TCP 50000-50001"


def code_of(path: Path) -> str:
    """The commands a page shows: its code, never its prose (where 'make' and 'salvo' are words)."""
    return "\n".join(CODE.findall(path.read_text()))


def test_every_variable_is_documented_with_its_default():
    for model in (ExecutorSettings, ControllerSettings):
        for name, default, _ in describe_variables(model):
            assert f"| `{name}` | `{default}` |" in CONFIGURATION, f"{name} missing or stale: run `make docs-config`"


def test_the_readme_is_read_in_one_sitting():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the detail to a page under docs/"


def test_every_salvo_verb_named_exists():
    verbs = set(next(a for a in build_parser()._actions if a.dest == "verb").choices)
    for path in (README, *PAGES):
        named = set(SALVO_VERB.findall(code_of(path)))
        assert named - verbs == set(), f"{path.name} names salvo verbs that do not exist: {named - verbs}"
    assert {"upload", "keygen", "config"} <= set(SALVO_VERB.findall(code_of(README)))  # the scan sees them


def test_every_make_target_named_exists():
    targets = set(MAKEFILE_TARGET.findall((ROOT / "Makefile").read_text()))
    for path in (README, *PAGES):
        named = set(MAKE_TARGET.findall(code_of(path)))
        assert named - targets == set(), f"{path.name} names make targets that do not exist: {named - targets}"
    assert {"rehearsal", "test", "docs"} <= set(MAKE_TARGET.findall(code_of(README)))


def test_every_salvo_variable_named_is_a_setting_or_a_name_salvo_sets():
    settings = set().union(*(known_variables(model) for model in (CommonSettings, *ROLE_MODELS.values())))
    for_scenarios = {getattr(fleetload, name) for name in dir(fleetload) if name.startswith("ENV_")}
    allowed = settings | SET_FOR_SCENARIOS | BUILD_AND_REHEARSAL | for_scenarios | TYPO_EXAMPLES
    for path in (README, *PAGES):
        named = {n for n in SALVO_VARIABLE.findall(path.read_text()) if not n.startswith(RESERVED_PREFIXES)}
        named = {n for n in named if not n.endswith("_")}  # a family, written `SALVO_LAUNCH_*`
        assert named - allowed == set(), f"{path.name} names variables that are no setting: {named - allowed}"


def test_the_executor_ports_the_pages_name_are_the_defaults():
    ranges = {match for path in (README, *PAGES) for match in PORT_RANGE.findall(path.read_text())}
    ranges |= set(PORT_RANGE.findall((ROOT / "deploy" / "ecs" / "run.sh").read_text()))
    assert ranges == {(str(COMMAND_PORT), str(STATUS_PORT))}


def test_the_checks_would_catch_a_wrong_name(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Run `salvo lanch` and `make rehersal` with `SALVO_USER=5`.\n")
    assert SALVO_VERB.findall(code_of(page)) == ["lanch"]
    assert MAKE_TARGET.findall(code_of(page)) == ["rehersal"]
    assert SALVO_VARIABLE.findall(page.read_text()) == ["SALVO_USER"]


def slug(title: str) -> str:
    """A heading's anchor, as GitHub and MkDocs' toc spell it."""
    return re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(title) for title in HEADING.findall(FENCED.sub("", page.read_text()))}


def test_the_readme_links_lead_somewhere():
    """mkdocs --strict checks the site's links; the README is outside the site, so its links are checked here."""
    links = LOCAL_LINK.findall(README.read_text())
    assert len(links) > 10
    for target, anchor in links:
        path = ROOT / target
        assert path.exists(), f"README.md links to {target}, which does not exist"
        assert not anchor or anchor in anchors(path), f"README.md links to {target}#{anchor}: no such heading"

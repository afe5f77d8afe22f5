"""The README's configuration tables are generated from the settings models: keep them in step."""

from pathlib import Path

from salvo.common.settings import describe_variables
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_variable_is_documented_with_its_default():
    for model in (ExecutorSettings, ControllerSettings):
        for name, default, _ in describe_variables(model):
            assert f"| `{name}` | `{default}` |" in README, f"{name} missing or stale: run `make readme-config`"

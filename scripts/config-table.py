"""Write the configuration page's tables from the settings models (`make docs-config`; without --write: print them)."""

import argparse
from pathlib import Path

from salvo.common.settings import describe_variables
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings

TABLES_HEADING = "## Executor"  # the page's tables run from this heading to its end


def tables() -> str:
    lines = []
    for title, model in (("Executor", ExecutorSettings), ("Controller", ControllerSettings)):
        lines += [f"## {title}", "", "| variable | default | meaning |", "| --- | --- | --- |"]
        lines += [
            f"| `{name}` | `{default}` | {meaning.replace('|', '/')} |"
            for name, default, meaning in describe_variables(model)
        ]
        lines.append("")
    return "\n".join(lines)


parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--write", type=Path, metavar="PAGE", help="replace PAGE's tables (from '## Executor' on)")
page = parser.parse_args().write
if page is None:
    print(tables(), end="")
else:
    text = page.read_text()
    page.write_text(text[: text.index(TABLES_HEADING)] + tables())

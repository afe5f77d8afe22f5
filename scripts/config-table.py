"""Print the README's configuration tables from the settings models (`make readme-config`)."""

from salvo.common.settings import describe_variables
from salvo.controller.settings import ControllerSettings
from salvo.executor.settings import ExecutorSettings

for title, model in (("Executor", ExecutorSettings), ("Controller", ControllerSettings)):
    print(f"### {title}\n\n| variable | default | meaning |\n| --- | --- | --- |")
    for name, default, meaning in describe_variables(model):
        print(f"| `{name}` | `{default}` | {meaning.replace('|', '/')} |")
    print()

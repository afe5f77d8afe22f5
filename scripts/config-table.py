"""Print the README's configuration tables from the settings models (`make readme-config`)."""

from salvo.settings import ControllerSettings, ExecutorSettings, describe_variables

for title, model in (("Executor", ExecutorSettings), ("Controller", ControllerSettings)):
    print(f"### {title}\n\n| variable | default | meaning |\n| --- | --- | --- |")
    for name, default, meaning in describe_variables(model):
        print(f"| `{name}` | `{default}` | {meaning.replace('|', '/')} |")
    print()

"""deploy/cloudformation/salvo.yaml read as CloudFormation reads it: short-form tags, conditions, intrinsics.

`load_template` turns the YAML tags (!Ref, !Sub, ...) into CloudFormation's long form, the JSON a
create-stack call takes. `Resolver` evaluates the intrinsic functions the template uses for given
parameters and given physical ids of resources, so a resource's properties can be checked as
AWS receives them (against botocore's service models, or against deploy/ecs's JSON files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import yaml
from botocore.validate import ParamValidator

from tests.support.deploy import DEPLOY, _enum_problems

TEMPLATE = DEPLOY / "cloudformation" / "salvo.yaml"
NO_VALUE = object()  # AWS::NoValue: the member or list item is left out

_FUNCTIONS = ("Sub", "Join", "If", "Equals", "Not", "Select", "Split", "GetAtt", "And", "Or", "FindInMap", "Base64")


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short forms (!Ref X -> {"Ref": "X"}, !Sub s -> {"Fn::Sub": s})."""


def _short_form(name: str):
    def construct(loader: _TemplateLoader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":  # !GetAtt A.B
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref": value} if name == "Ref" else {f"Fn::{name}": value}

    return construct


for _name in ("Ref", *_FUNCTIONS):
    _TemplateLoader.add_constructor(f"!{_name}", _short_form(_name))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as CloudFormation's long-form JSON document."""
    return yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class Resolver:
    """Evaluates a template's intrinsic functions.

    `parameters` are the stack's (defaults filled in here), `refs` each resource's Ref value (its
    physical id), `attributes` its Fn::GetAtt values by (logical id, attribute).
    """

    template: dict[str, Any]
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    stack_name: str = "salvo"
    region: str = "eu-west-1"
    account: str = "111122223333"

    def __post_init__(self) -> None:
        defaults = {name: spec["Default"] for name, spec in self.template["Parameters"].items() if "Default" in spec}
        self.parameters = {name: str(value) for name, value in {**defaults, **self.parameters}.items()}
        missing = set(self.template["Parameters"]) - set(self.parameters)
        assert not missing, f"parameters without a value: {missing}"
        self.conditions = {name: self.resolve(expression) for name, expression in self.template["Conditions"].items()}

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::NoValue": NO_VALUE,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            if self.template["Parameters"][name]["Type"].startswith("List<"):
                return self.parameters[name].split(",")
            return self.parameters[name]
        return self.refs[name]

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def value(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.attributes[(logical_id, attribute)]
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", value, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition" and isinstance(argument, str):
                return self.conditions[argument]
            if key == "Fn::GetAtt":
                return self.attributes[tuple(argument)]
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                return self._sub(text, {name: self.resolve(value) for name, value in variables.items()})
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.conditions[name] else when_false)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(argument[0])
            assert not key.startswith("Fn::"), f"{key}: not evaluated by this resolver"
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's Properties as AWS receives them."""
        return self.resolve(self.template["Resources"][logical_id].get("Properties", {}))

    def created(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.conditions[condition]


def camel_case_keys(value: Any) -> Any:
    """CloudFormation's PascalCase members as the API's camelCase (ECS: ContainerDefinitions -> containerDefinitions).

    Keys already lower-case (log driver options such as awslogs-group) are unchanged.
    """
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: camel_case_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel_case_keys(item) for item in value]
    return value


def service_problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """What botocore's model of `service` says is wrong with `params` as `operation`'s input ([] when valid)."""
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return problems + _enum_problems(params, shape, operation)

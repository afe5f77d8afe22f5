"""deploy/cloudformation/salvo.yaml created as a stack on a moto server, and what it made read back by boto3.

Moto's CloudFormation creates most of the template's resource types. The ones it does not
(`resource_class_from_type` is None: Secrets Manager secrets, the bucket policy, the schedule) are made
through their own APIs on the same server from the template's properties as CloudFormation resolves them
(tests/support/cloudformation.py), their references in the rest of the template replaced by what those
calls returned, and their properties checked against botocore's models; so every resource of the template
exists on moto at the end, named and wired as the stack names and wires it.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from typing import Any

import pytest
from moto.cloudformation.parsing import resource_class_from_type

from salvo.common.defaults import COMMAND_PORT, STATUS_PORT
from salvo.common.keys import KeyMode
from tests.support.cloudformation import Resolver, load_template, service_problems
from tests.support.deploy import keygen_role_json, resolve_ecs_secrets, start_settings
from tests.support.keys import controller_keys, executor_keys
from tests.support.s3 import REGION, MotoServer, start_moto

pytestmark = pytest.mark.integration

STACK = "salvo"
SCHEDULE = "cron(0 3 * * ? *)"


def _replace_references(node: Any, values: dict[str, str]) -> Any:
    """`node` with every Ref to (and ${...} in a Fn::Sub of) a logical id in `values` replaced by its value."""
    if isinstance(node, list):
        return [_replace_references(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in values:
        return values[node["Ref"]]
    if set(node) == {"Fn::Sub"}:
        argument = node["Fn::Sub"]
        text, variables = (argument, None) if isinstance(argument, str) else argument
        text = re.sub(r"\$\{([^}.!]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)
        return {"Fn::Sub": text if variables is None else [text, _replace_references(variables, values)]}
    return {key: _replace_references(item, values) for key, item in node.items()}


class Deployed:
    """The stack on moto, plus the resources made through their APIs."""

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        ec2 = server.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
            for cidr in ("10.0.16.0/20", "10.0.32.0/20")
        ]
        self.parameters = {
            "VpcId": vpc,
            "SubnetIds": ",".join(self.subnets),
            "ExecutorCidrs": "10.0.16.0/20,10.0.32.0/20",
            "ExecutorImage": "111122223333.dkr.ecr.us-east-1.amazonaws.com/salvo-executor:0.1.0",
            "ControllerImage": "111122223333.dkr.ecr.us-east-1.amazonaws.com/salvo-controller:0.1.0",
            "FleetSize": "4",
            "BucketName": "",
            "ScenarioKey": "scenarios/checkout.zip",
            "ResultsPrefix": "results/",
            "ExecutorKeys": keygen_role_json("executor"),
            "ControllerKeys": keygen_role_json("controller"),
            "ScheduleExpression": SCHEDULE,
        }
        self.template = load_template()
        resources = self.template["Resources"]
        self.unsupported = {name for name, spec in resources.items() if resource_class_from_type(spec["Type"]) is None}

        # Secrets first: the roles and task definitions name their ARNs.
        self.account = server.client("sts").get_caller_identity()["Account"]
        before = Resolver(self.template, self.parameters, stack_name=STACK, region=REGION, account=self.account)
        secrets = server.client("secretsmanager")
        self.api_made: dict[str, str] = {}
        for name in sorted(n for n in self.unsupported if resources[n]["Type"] == "AWS::SecretsManager::Secret"):
            properties = before.properties(name)
            self.api_made[name] = secrets.create_secret(**properties)["ARN"]

        for_moto = copy.deepcopy(self.template)
        for name in self.unsupported:
            del for_moto["Resources"][name]
        for_moto = _replace_references(for_moto, self.api_made)
        for_moto["Outputs"] = {
            name: output
            for name, output in for_moto["Outputs"].items()
            if not set(self.unsupported) & set(re.findall(r"[A-Za-z]+", json.dumps(output)))
        }
        cloudformation = server.client("cloudformation")
        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(for_moto),
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in self.parameters.items()],
        )
        (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        self.status = stack["StackStatus"]
        self.outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
        self.physical = {
            resource["LogicalResourceId"]: resource.get("PhysicalResourceId", "")  # none: a rule
            for resource in cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
        }
        self.resolver = self._resolver()

    def _resolver(self) -> Resolver:
        """The template resolved with the physical ids moto gave (for the resources made by API)."""
        iam, ecs = self.server.client("iam"), self.server.client("ecs")
        resources = self.template["Resources"]
        attributes = {
            (name, "Arn"): iam.get_role(RoleName=self.physical[name])["Role"]["Arn"]
            for name, spec in resources.items()
            if spec["Type"] == "AWS::IAM::Role"
        }
        attributes[("Cluster", "Arn")] = ecs.describe_clusters(clusters=[self.physical["Cluster"]])["clusters"][0][
            "clusterArn"
        ]
        attributes[("ResultsBucket", "Arn")] = f"arn:aws:s3:::{self.physical['ResultsBucket']}"
        for group in ("ExecutorSecurityGroup", "ControllerSecurityGroup"):
            attributes[(group, "GroupId")] = self.physical[group]
        return Resolver(
            self.template,
            self.parameters,
            refs={**self.physical, **self.api_made},
            attributes=attributes,
            stack_name=STACK,
            region=REGION,
            account=self.account,
        )


@pytest.fixture(scope="module")
def deployed():
    server = start_moto()
    try:
        yield Deployed(server)
    finally:
        server.stop()


def test_the_stack_is_created_with_every_supported_resource(deployed):
    assert deployed.status == "CREATE_COMPLETE"
    made_by_moto = set(deployed.template["Resources"]) - deployed.unsupported
    assert made_by_moto <= set(deployed.physical), made_by_moto - set(deployed.physical)
    # What moto's CloudFormation cannot make today; anything more is a regression of the template's types.
    assert deployed.unsupported <= {"ExecutorKeysSecret", "ControllerKeysSecret", "ResultsBucketPolicy", "Schedule"}
    assert set(deployed.outputs) >= {
        "ClusterName",
        "ExecutorTaskDefinitionArn",
        "ControllerTaskDefinitionArn",
        "Subnets",
        "ExecutorSecurityGroup",
        "ControllerSecurityGroup",
        "Bucket",
    }
    assert deployed.outputs["Subnets"] == ",".join(deployed.subnets)


def test_the_results_bucket_is_encrypted_private_and_tls_only(deployed):
    s3 = deployed.server.client("s3")
    bucket = deployed.outputs["Bucket"]
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # The bucket policy (a type moto's CloudFormation lacks), put as CloudFormation would, then read back.
    policy = deployed.resolver.properties("ResultsBucketPolicy")
    assert policy["Bucket"] == bucket
    document = {"Bucket": bucket, "Policy": json.dumps(policy["PolicyDocument"])}
    assert service_problems("s3", "PutBucketPolicy", document) == []
    s3.put_bucket_policy(**document)
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    block = deployed.resolver.properties("ResultsBucket")["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )


def test_the_log_group_keeps_logs_for_the_retention_given(deployed):
    logs = deployed.server.client("logs")
    (group,) = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}")["logGroups"]
    assert group["logGroupName"] == deployed.outputs["LogGroup"] == f"/ecs/{STACK}"
    assert group["retentionInDays"] == 30


def test_two_secrets_one_half_each(deployed):
    secrets = deployed.server.client("secretsmanager")
    executor = json.loads(secrets.get_secret_value(SecretId=deployed.api_made["ExecutorKeysSecret"])["SecretString"])
    controller = json.loads(
        secrets.get_secret_value(SecretId=deployed.api_made["ControllerKeysSecret"])["SecretString"]
    )
    assert set(executor) == {"SALVO_EXECUTOR_SECRET_KEY", "SALVO_CONTROLLER_PUBLIC_KEY"}
    assert set(controller) == {"SALVO_CONTROLLER_SECRET_KEY", "SALVO_EXECUTOR_PUBLIC_KEY"}


def _role_policy(deployed: Deployed, logical_id: str) -> dict:
    iam = deployed.server.client("iam")
    role = deployed.physical[logical_id]
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, dict):
        return document
    # moto's CloudFormation keeps an inline role policy as the parsed dict, which its GetRolePolicy answer
    # then prints in Python's repr, not JSON (AWS answers JSON, which boto3 decodes to the dict above).
    return ast.literal_eval(document)


def test_roles_hold_the_policies_of_the_template(deployed):
    iam = deployed.server.client("iam")
    for name, spec in deployed.template["Resources"].items():
        if spec["Type"] != "AWS::IAM::Role":
            continue
        expected = deployed.resolver.properties(name)
        assert _role_policy(deployed, name) == expected["Policies"][0]["PolicyDocument"], name
        trust = iam.get_role(RoleName=deployed.physical[name])["Role"]["AssumeRolePolicyDocument"]
        assert trust == expected["AssumeRolePolicyDocument"], name


def test_no_executor_role_may_read_the_controllers_secret(deployed):
    controller_secret = deployed.api_made["ControllerKeysSecret"]
    for role in ("ExecutorExecutionRole", "ExecutorTaskRole"):
        statements = _role_policy(deployed, role)["Statement"]
        assert [s["Effect"] for s in statements if controller_secret in json.dumps(s)] == ["Deny"], role
    reads = {
        statement["Resource"]
        for statement in _role_policy(deployed, "ControllerExecutionRole")["Statement"]
        if statement["Action"] == "secretsmanager:GetSecretValue"
    }
    assert reads == {controller_secret}


def test_the_cluster_and_both_task_definitions_exist(deployed):
    ecs = deployed.server.client("ecs")
    (cluster,) = ecs.describe_clusters(clusters=[deployed.outputs["ClusterName"]])["clusters"]
    assert cluster["status"] == "ACTIVE"
    for side in ("executor", "controller"):
        arn = deployed.outputs[f"{side.title()}TaskDefinitionArn"]
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        assert definition["family"] == f"{STACK}-{side}"
        (container,) = definition["containerDefinitions"]
        assert container["name"] == side and container["image"] == deployed.parameters[f"{side.title()}Image"]


@pytest.mark.parametrize("side", ["executor", "controller"])
def test_each_task_starts_with_its_own_half_from_moto_secrets_manager(deployed, side):
    """The container's variables as ECS would set them: environment, and secrets read from moto by JSON key."""
    ecs, secrets = deployed.server.client("ecs"), deployed.server.client("secretsmanager")
    arn = deployed.outputs[f"{side.title()}TaskDefinitionArn"]
    (container,) = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"]
    store = {arn: secrets.get_secret_value(SecretId=arn)["SecretString"] for arn in deployed.api_made.values()}
    env = {item["name"]: str(item["value"]) for item in container["environment"]}
    env.update(resolve_ecs_secrets(container, store))
    settings = start_settings(side, env)
    assert settings.key_mode() is KeyMode.SPLIT
    assert settings.link_keys() == (executor_keys() if side == "executor" else controller_keys())
    if side == "controller":
        assert env["SALVO_LAUNCH_TASK_DEFINITION"] == deployed.outputs["ExecutorTaskDefinitionArn"]
        assert env["SALVO_LAUNCH_CLUSTER"] == deployed.outputs["ClusterName"]
        assert env["SALVO_LAUNCH_SECURITY_GROUPS"] == deployed.outputs["ExecutorSecurityGroup"]
        assert env["SALVO_LAUNCH_SUBNETS"] == deployed.outputs["Subnets"]
        assert env["SALVO_LAUNCH_COUNT"] == env["SALVO_EXPECTED_EXECUTORS"] == "4"


def test_only_the_controllers_group_reaches_the_executors_ports(deployed):
    ec2 = deployed.server.client("ec2")
    executor_group, controller_group = (
        deployed.outputs["ExecutorSecurityGroup"],
        deployed.outputs["ControllerSecurityGroup"],
    )
    (group,) = ec2.describe_security_groups(GroupIds=[executor_group])["SecurityGroups"]
    (rule,) = group["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", COMMAND_PORT, STATUS_PORT)
    assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [controller_group]
    assert rule["IpRanges"] == [] and rule.get("Ipv6Ranges", []) == []
    (controller,) = ec2.describe_security_groups(GroupIds=[controller_group])["SecurityGroups"]
    assert controller["IpPermissions"] == []  # nothing connects to the controller


def test_the_schedule_starts_the_controller_task(deployed):
    """EventBridge Scheduler (a type moto's CloudFormation lacks): the resolved properties are a valid
    CreateSchedule input, and moto's Scheduler accepts and returns them."""
    schedule = {"Name": f"{STACK}-schedule", **deployed.resolver.properties("Schedule")}
    network = schedule["Target"]["EcsParameters"]["NetworkConfiguration"]
    network["awsvpcConfiguration"] = network.pop("AwsvpcConfiguration")  # the API's spelling
    assert service_problems("scheduler", "CreateSchedule", schedule) == []
    scheduler = deployed.server.client("scheduler")
    scheduler.create_schedule(**schedule)
    stored = scheduler.get_schedule(Name=schedule["Name"])
    assert stored["ScheduleExpression"] == SCHEDULE
    target = stored["Target"]
    assert target["Arn"] == deployed.resolver.attributes[("Cluster", "Arn")]
    assert target["RoleArn"] == deployed.resolver.attributes[("SchedulerRole", "Arn")]
    assert target["EcsParameters"]["TaskDefinitionArn"] == deployed.outputs["ControllerTaskDefinitionArn"]
    run, passing = _role_policy(deployed, "SchedulerRole")["Statement"]
    assert run["Resource"] == deployed.outputs["ControllerTaskDefinitionArn"]
    assert set(passing["Resource"]) == {
        deployed.resolver.attributes[("ControllerTaskRole", "Arn")],
        deployed.resolver.attributes[("ControllerExecutionRole", "Arn")],
    }


def _controller_settings(deployed: Deployed, **overrides: str):
    ecs, secrets = deployed.server.client("ecs"), deployed.server.client("secretsmanager")
    arn = deployed.outputs["ControllerTaskDefinitionArn"]
    (container,) = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"]
    store = {arn: secrets.get_secret_value(SecretId=arn)["SecretString"] for arn in deployed.api_made.values()}
    env = {item["name"]: str(item["value"]) for item in container["environment"]}
    env.update(resolve_ecs_secrets(container, store))
    return start_settings("controller", {**env, **overrides})


def test_the_stacks_controller_launches_three_executors_and_stops_them(deployed):
    """The controller task as the stack defines it, launching 3 executors through the ECS API (botocore's Stubber
    where moto's RunTask cannot start awsvpc tasks): RunTask naming the stack's cluster, executor task definition,
    subnets and security group; DescribeTasks for the addresses; StopTask of every task at the end."""
    from salvo.controller.launch import ecs_launcher
    from tests.support.fakes import FakeClock
    from tests.support.stubbed_ecs import StubbedEcs, describe_with_addresses, listed, run_task_ok, stop_ok, task_arn

    settings = _controller_settings(deployed, SALVO_LAUNCH_COUNT="3", SALVO_EXPECTED_EXECUTORS="3")
    plan = [
        run_task_ok(0, 3),
        describe_with_addresses({n: f"10.0.16.{n + 10}" for n in range(3)}),
        listed(range(3)),
        *[stop_ok(n) for n in range(3)],
    ]
    ecs = StubbedEcs(plan)
    launch = ecs_launcher(settings, "stack-run", FakeClock(), client_factory=lambda region: ecs.client, backoff=0.01)
    launch.launch()
    (run,) = [call["params"] for call in ecs.calls if call["operation"] == "RunTask"]
    assert run["cluster"] == deployed.outputs["ClusterName"] and run["count"] == 3
    assert run["taskDefinition"] == deployed.outputs["ExecutorTaskDefinitionArn"]
    network = run["networkConfiguration"]["awsvpcConfiguration"]
    assert network["subnets"] == deployed.outputs["Subnets"].split(",")
    assert network["securityGroups"] == [deployed.outputs["ExecutorSecurityGroup"]]
    assert launch.addresses() == ["10.0.16.10", "10.0.16.11", "10.0.16.12"]
    launch.stop_all("the run ended (exit 0)")
    stops = [call["params"]["task"] for call in ecs.calls if call["operation"] == "StopTask"]
    assert stops == [task_arn(n) for n in range(3)]
    ecs.stubber.assert_no_pending_responses()


def test_a_failed_batch_from_the_stacks_controller_stops_what_it_started(deployed):
    from salvo.controller.launch import LaunchFailed, ecs_launcher
    from tests.support.fakes import FakeClock
    from tests.support.stubbed_ecs import StubbedEcs, error, listed, run_task_ok, stop_ok, task_arn

    settings = _controller_settings(deployed, SALVO_LAUNCH_COUNT="13", SALVO_EXPECTED_EXECUTORS="13")
    plan = [
        run_task_ok(0, 10),
        error("RunTask", "AccessDeniedException", "not authorized to perform ecs:RunTask"),
        listed(range(10)),
        *[stop_ok(n) for n in range(10)],
    ]
    ecs = StubbedEcs(plan)
    launch = ecs_launcher(settings, "stack-run", FakeClock(), client_factory=lambda region: ecs.client, backoff=0.01)
    with pytest.raises(LaunchFailed) as raised:
        launch.launch()
    assert "stopped the 10 started" in str(raised.value) and "AccessDeniedException" in str(raised.value)
    assert [call["params"]["task"] for call in ecs.calls if call["operation"] == "StopTask"] == [
        task_arn(n) for n in range(10)
    ]

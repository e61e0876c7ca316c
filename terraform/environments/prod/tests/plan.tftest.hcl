# Whole-environment plan with a mocked AWS provider and this directory's terraform.tfvars:
# proves the modules compose (no cycles, types match) and pins prod's safety settings.
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

run "prod_plans_with_safety_settings" {
  command = plan

  assert {
    condition     = output.artifact_bucket_name == "churn-platform-prod-artifacts-example"
    error_message = "The artifact bucket comes from terraform.tfvars."
  }

  assert {
    condition     = var.db_deletion_protection && var.db_multi_az && var.log_retention_days >= 365
    error_message = "prod keeps deletion protection, Multi-AZ and a year of logs."
  }

  assert {
    condition     = output.service_discovery_names.code_location == "code-location.churn-prod.internal"
    error_message = "The webserver and daemon reach the code location by its Cloud Map name."
  }
}

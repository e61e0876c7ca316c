# Offline unit tests: mocked AWS provider, plan only (no credentials, no API calls).
#   terraform init -backend=false && terraform test

mock_provider "aws" {
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
  override_data {
    target = data.aws_region.current
    values = { name = "eu-west-1" }
  }
  override_data {
    target = data.aws_vpc.this
    values = { cidr_block = "10.20.0.0/16" }
  }
  override_data {
    target = data.aws_iam_policy_document.ecs_tasks_assume
    values = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\",\"Principal\":{\"Service\":\"ecs-tasks.amazonaws.com\"}}]}"
    }
  }
  # The image URL is computed by AWS; make it known at plan time so container definitions can be
  # inspected.
  override_resource {
    target          = aws_ecr_repository.app
    override_during = plan
    values = {
      repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-test/churn-platform"
      arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/churn-test/churn-platform"
    }
  }
}

variables {
  name_prefix         = "churn-test"
  vpc_id              = "vpc-0123456789abcdef0"
  private_subnet_ids  = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  artifact_bucket_arn = "arn:aws:s3:::churn-test-artifacts"
  kms_key_arn         = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  db_address          = "churn-test-postgres.abc123.eu-west-1.rds.amazonaws.com"
  image_tag           = "0123abcd"
  secret_arns = {
    database_url             = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:churn-test/database_url-AbCdEf"
    dagster_pg_password      = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:churn-test/dagster_pg_password-AbCdEf"
    mlflow_backend_store_uri = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:churn-test/mlflow_backend_store_uri-AbCdEf"
    slack_webhook_url        = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:churn-test/slack_webhook_url-AbCdEf"
  }
}

run "task_role_reaches_only_the_artifact_bucket" {
  command = plan

  # Every S3 statement targets the one bucket or its objects, nothing else.
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : [
        for r in flatten([s.Resource]) :
        contains(["arn:aws:s3:::churn-test-artifacts", "arn:aws:s3:::churn-test-artifacts/*"], r)
      ] if anytrue([for a in flatten([s.Action]) : startswith(a, "s3:")])
    ]))
    error_message = "The task role may only reference the artifact bucket ARN (and its objects)."
  }

  # No wildcard resources and no service-wide actions anywhere in the task policy.
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.task.policy).Statement : concat(
        [for r in flatten([s.Resource]) : r != "*" && !startswith(r, "arn:aws:s3:::*")],
        [for a in flatten([s.Action]) : !endswith(a, ":*") && a != "*"],
      )
    ]))
    error_message = "The task policy must not use '*' resources, other buckets or 's3:*'-style actions."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.task.policy).Statement : s.Effect == "Allow" && !can(s.NotResource) && !can(s.NotAction)])
    error_message = "The task policy must not use NotResource/NotAction (they grant everything else)."
  }

  # The execution role can read exactly the four referenced secrets.
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.execution_secrets.policy).Statement : s.Resource
      if contains(flatten([s.Action]), "secretsmanager:GetSecretValue")
    ])) == toset(values(var.secret_arns))
    error_message = "The execution role must read exactly the secrets the containers reference."
  }
}

run "registry_and_services_are_hardened" {
  command = plan

  assert {
    condition     = aws_ecr_repository.app.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.app.image_scanning_configuration[0].scan_on_push
    error_message = "ECR must use immutable tags and scan on push."
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.service : g.retention_in_days == 365 && g.kms_key_id == var.kms_key_arn])
    error_message = "Every log group needs a retention period and KMS encryption."
  }

  assert {
    condition     = alltrue([for s in aws_ecs_service.service : one(s.network_configuration).assign_public_ip == false])
    error_message = "No ECS task may get a public IP."
  }

  assert {
    condition     = aws_ecs_service.service["daemon"].deployment_maximum_percent == 100
    error_message = "The Dagster daemon must never run two copies during a deployment."
  }

  assert {
    condition = alltrue([
      for td in aws_ecs_task_definition.service :
      jsondecode(td.container_definitions)[0].readonlyRootFilesystem == true &&
      jsondecode(td.container_definitions)[0].image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-test/churn-platform:0123abcd"
    ])
    error_message = "Containers run the pinned image with a read-only root filesystem."
  }

  assert {
    condition = alltrue(flatten([
      for td in aws_ecs_task_definition.service : [
        for e in jsondecode(td.container_definitions)[0].environment :
        !contains(["DATABASE_URL", "DAGSTER_PG_PASSWORD", "SLACK_WEBHOOK_URL", "MLFLOW_BACKEND_STORE_URI", "AWS_SECRET_ACCESS_KEY"], e.name)
      ]
    ]))
    error_message = "Secrets reach containers through `secrets` (valueFrom), never as plain environment values."
  }

  assert {
    condition     = toset([for s in jsondecode(aws_ecs_task_definition.service["code_location"].container_definitions)[0].secrets : s.name]) == toset(["DATABASE_URL", "DAGSTER_PG_PASSWORD", "SLACK_WEBHOOK_URL"])
    error_message = "The code location receives DATABASE_URL, DAGSTER_PG_PASSWORD and SLACK_WEBHOOK_URL as secrets."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.operators) == 0
    error_message = "Without operator_cidrs, the UIs are not reachable from outside the tasks' group."
  }
}

run "rejects_wildcard_bucket_arn" {
  command = plan

  variables {
    artifact_bucket_arn = "arn:aws:s3:::*"
  }

  expect_failures = [var.artifact_bucket_arn]
}

run "rejects_world_open_ui" {
  command = plan

  variables {
    operator_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.operator_cidrs]
}

# Offline: the run/step task definition and the IAM the ECS step executor needs, least privilege.
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
  override_resource {
    target          = aws_ecr_repository.app
    override_during = plan
    values = {
      repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/churn-test/churn-platform"
      arn            = "arn:aws:ecr:eu-west-1:123456789012:repository/churn-test/churn-platform"
    }
  }
  override_resource {
    target          = aws_ecs_cluster.this
    override_during = plan
    values          = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/churn-test-dagster" }
  }
  override_resource {
    target          = aws_iam_role.task
    override_during = plan
    values          = { arn = "arn:aws:iam::123456789012:role/churn-test-ecs-task" }
  }
  override_resource {
    target          = aws_iam_role.execution
    override_during = plan
    values          = { arn = "arn:aws:iam::123456789012:role/churn-test-ecs-execution" }
  }
  override_resource {
    target          = aws_cloudwatch_log_group.run
    override_during = plan
    values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/churn-test/ecs/dagster-run" }
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

run "run_task_definition_selects_the_ecs_step_executor" {
  command = plan

  assert {
    condition     = aws_ecs_task_definition.run.family == "churn-test-dagster-run"
    error_message = "the run/step family must be named after the prefix"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.run.container_definitions)[0].name == "run"
    error_message = "the container must be 'run' (container_name of the EcsRunLauncher)"
  }
  assert {
    condition = contains(
      [for e in jsondecode(aws_ecs_task_definition.run.container_definitions)[0].environment : "${e.name}=${e.value}"],
      "CHURN_SHARD_EXECUTOR=ecs",
    )
    error_message = "run tasks must select the ECS step executor"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.run.container_definitions)[0].readonlyRootFilesystem
    error_message = "read-only root filesystem"
  }
}

run "launch_policy_is_scoped" {
  command = plan

  # RunTask only for the run family, only in this cluster.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.launch_run_and_step_tasks.policy).Statement :
      alltrue([for r in flatten([s.Resource]) : endswith(r, ":task-definition/churn-test-dagster-run:*")])
      && s.Condition.ArnEquals["ecs:cluster"] == "arn:aws:ecs:eu-west-1:123456789012:cluster/churn-test-dagster"
      if contains(flatten([s.Action]), "ecs:RunTask")
    ])
    error_message = "ecs:RunTask must be limited to the run family in this cluster"
  }
  # PassRole only the module's two roles, only to ECS tasks.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.launch_run_and_step_tasks.policy).Statement :
      toset(flatten([s.Resource])) == toset([
        "arn:aws:iam::123456789012:role/churn-test-ecs-task",
        "arn:aws:iam::123456789012:role/churn-test-ecs-execution",
      ]) && s.Condition.StringEquals["iam:PassedToService"] == "ecs-tasks.amazonaws.com"
      if contains(flatten([s.Action]), "iam:PassRole")
    ])
    error_message = "iam:PassRole must be limited to the task and execution roles"
  }
  # The only wildcard resource is the read-only DescribeTaskDefinition.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.launch_run_and_step_tasks.policy).Statement :
      flatten([s.Action]) == ["ecs:DescribeTaskDefinition"]
      if contains(flatten([s.Resource]), "*")
    ])
    error_message = "no write action may target '*'"
  }
  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_iam_role_policy.launch_run_and_step_tasks.policy).Statement : flatten([s.Action])
    ])) == toset(["ecs:RunTask", "ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource", "ecs:DescribeTaskDefinition", "iam:PassRole", "logs:GetLogEvents", "logs:DescribeLogStreams"])
    error_message = "unexpected actions in the launch policy"
  }
}

# Offline: the services behind the edge load balancer and the optional real-time service.

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

run "ui_services_behind_the_load_balancer_and_realtime_service" {
  command = plan

  variables {
    mlflow_public_host = "mlflow.churn.example.com"
    load_balancer = {
      security_group_id = "sg-0a1b2c3d4e5f60789"
      target_group_arns = {
        webserver = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/churn-test-dagster/1"
        mlflow    = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/churn-test-mlflow/2"
        realtime  = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/churn-test-realtime/3"
      }
    }
    realtime = {
      api_key_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:churn-test/realtime_api_key-AbCdEf"
      min_count          = 2
      max_count          = 6
    }
  }

  # The Dagster webserver and MLflow register with their target groups; daemon and code location
  # are never behind the load balancer.
  assert {
    condition = (
      one(aws_ecs_service.service["webserver"].load_balancer).container_port == 3000 &&
      one(aws_ecs_service.service["webserver"].load_balancer).target_group_arn == var.load_balancer.target_group_arns["webserver"] &&
      one(aws_ecs_service.service["mlflow"].load_balancer).container_port == 5000 &&
      length(aws_ecs_service.service["daemon"].load_balancer) == 0 &&
      length(aws_ecs_service.service["code_location"].load_balancer) == 0
    )
    error_message = "Only the webserver (3000) and MLflow (5000) services sit behind the load balancer."
  }

  # Their ports are open to the load balancer's security group only, never to a CIDR.
  assert {
    condition = alltrue([
      for r in values(aws_vpc_security_group_ingress_rule.from_load_balancer) :
      r.referenced_security_group_id == "sg-0a1b2c3d4e5f60789" && r.cidr_ipv4 == null
    ]) && toset([for r in values(aws_vpc_security_group_ingress_rule.from_load_balancer) : r.from_port]) == toset([3000, 5000, 8000])
    error_message = "The UI and API ports must be open to the load balancer's group only."
  }

  assert {
    condition     = strcontains(join(" ", jsondecode(aws_ecs_task_definition.service["mlflow"].container_definitions)[0].command), "mlflow.churn.example.com")
    error_message = "MLflow must accept its public host name (--allowed-hosts)."
  }

  # Real-time: `churn-platform serve`, API key from Secrets Manager (never a plain variable).
  assert {
    condition = (
      slice(jsondecode(aws_ecs_task_definition.realtime[0].container_definitions)[0].command, 0, 2) == ["churn-platform", "serve"] &&
      contains(jsondecode(aws_ecs_task_definition.realtime[0].container_definitions)[0].secrets, {
        name = "CHURN_API_KEY", valueFrom = var.realtime.api_key_secret_arn
      }) &&
      !contains([for e in jsondecode(aws_ecs_task_definition.realtime[0].container_definitions)[0].environment : e.name], "CHURN_API_KEY")
    )
    error_message = "The real-time container runs churn-platform serve with CHURN_API_KEY from Secrets Manager."
  }

  assert {
    condition     = contains(flatten([for s in jsondecode(aws_iam_role_policy.execution_secrets.policy).Statement : s.Resource if s.Sid == "ReadTheReferencedSecretsOnly"]), var.realtime.api_key_secret_arn)
    error_message = "The execution role must be able to inject the API key secret."
  }

  assert {
    condition     = one(aws_ecs_service.realtime[0].load_balancer).container_port == 8000 && one(aws_ecs_service.realtime[0].load_balancer).target_group_arn == var.load_balancer.target_group_arns["realtime"]
    error_message = "The real-time service registers with the realtime target group on port 8000."
  }

  # CPU-based autoscaling between min_count and max_count.
  assert {
    condition = (
      aws_appautoscaling_target.realtime[0].min_capacity == 2 &&
      aws_appautoscaling_target.realtime[0].max_capacity == 6 &&
      aws_appautoscaling_policy.realtime_cpu[0].policy_type == "TargetTrackingScaling" &&
      one(one(aws_appautoscaling_policy.realtime_cpu[0].target_tracking_scaling_policy_configuration).predefined_metric_specification).predefined_metric_type == "ECSServiceAverageCPUUtilization"
    )
    error_message = "The real-time service scales on average CPU between min_count and max_count."
  }
}

run "no_load_balancer_no_realtime_by_default" {
  command = plan

  assert {
    condition     = length(aws_ecs_service.realtime) == 0 && length(aws_vpc_security_group_ingress_rule.from_load_balancer) == 0 && length(aws_ecs_service.service["webserver"].load_balancer) == 0
    error_message = "Without load_balancer and realtime the module stays private, as before."
  }
}

run "realtime_without_its_target_group_is_refused" {
  command = plan

  variables {
    realtime = {
      api_key_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:churn-test/realtime_api_key-AbCdEf"
    }
  }

  expect_failures = [aws_ecs_service.realtime]
}

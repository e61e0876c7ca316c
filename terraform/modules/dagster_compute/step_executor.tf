# Sharded scoring past one machine: the task definition that Dagster run tasks and step tasks
# use under the EcsRunLauncher (deploy/dagster/dagster.ecs.yaml) with CHURN_SHARD_EXECUTOR=ecs,
# and the IAM that lets the launching tasks start them.
#
# dagster-aws's ecs_executor starts every step (plan, each shard, swap) as a copy of the *run
# task's* task definition, sized per step by the op's ecs/cpu and ecs/memory tags (task-level
# overrides), so one family serves both. The run task itself is launched by the daemon (the
# EcsRunLauncher, `task_definition` = the output run_task_definition_arn, `container_name` = "run").
# Both the daemon and the run task use the module's task role; the policy below lets that role
# start, watch and stop tasks of this family only, in this cluster only, and pass only the
# module's two roles to them.

variable "run_task_size" {
  description = "Default Fargate size of Dagster run and step tasks (CPU units, MiB); runs and steps override it with ecs/cpu, ecs/memory tags."
  type = object({
    cpu     = number
    memory  = number
    storage = number # GiB of ephemeral storage: the scoring spool of a large shard
  })
  default = { cpu = 1024, memory = 4096, storage = 40 }

  validation {
    condition     = var.run_task_size.storage >= 21 && var.run_task_size.storage <= 200
    error_message = "run_task_size.storage must be between 21 and 200 GiB (Fargate ephemeral storage)."
  }
}

locals {
  run_family = "${var.name_prefix}-dagster-run"
  # Task definition ARNs of the family (any revision) and tasks of this cluster.
  run_task_definition_arns = "arn:${local.partition}:ecs:${local.region}:*:task-definition/${local.run_family}:*"
  cluster_task_arns        = "arn:${local.partition}:ecs:${local.region}:*:task/${aws_ecs_cluster.this.name}/*"
}

resource "aws_cloudwatch_log_group" "run" {
  name              = "/${var.name_prefix}/ecs/dagster-run"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_ecs_task_definition" "run" {
  family                   = local.run_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.run_task_size.cpu
  memory                   = var.run_task_size.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = var.run_task_size.storage
  }

  volume {
    name = "tmp"
  }
  volume {
    name = "dagster-storage"
  }

  # The launcher and the executor replace the command (dagster api execute_run / execute_step).
  container_definitions = jsonencode([{
    name                   = "run"
    image                  = local.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    environment = concat(local.app_environment, [
      { name = "CHURN_SERVICE_ROLE", value = "run" },
      { name = "CHURN_SHARD_EXECUTOR", value = "ecs" },
    ])
    secrets = local.app_secrets
    mountPoints = [
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      { sourceVolume = "dagster-storage", containerPath = "/opt/dagster/dagster_home/storage", readOnly = false },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.run.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "dagster"
      }
    }
  }])

  tags = local.tags
}

resource "aws_iam_role_policy" "launch_run_and_step_tasks" {
  name = "launch-dagster-run-and-step-tasks"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "RunTasksOfTheRunFamilyInThisCluster"
        Effect   = "Allow"
        Action   = ["ecs:RunTask"]
        Resource = [local.run_task_definition_arns]
        Condition = {
          ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn }
        }
      },
      {
        Sid      = "WatchAndStopTasksOfThisCluster"
        Effect   = "Allow"
        Action   = ["ecs:DescribeTasks", "ecs:StopTask"]
        Resource = [local.cluster_task_arns]
        Condition = {
          ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn }
        }
      },
      {
        Sid      = "TagTheTasksItStarts"
        Effect   = "Allow"
        Action   = ["ecs:TagResource"]
        Resource = [local.cluster_task_arns]
        Condition = {
          StringEquals = { "ecs:CreateAction" = "RunTask" }
        }
      },
      {
        # DescribeTaskDefinition supports no resource-level permissions (read-only).
        Sid      = "ReadTaskDefinitions"
        Effect   = "Allow"
        Action   = ["ecs:DescribeTaskDefinition"]
        Resource = ["*"]
      },
      {
        Sid      = "PassOnlyThePlatformRoles"
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = [aws_iam_role.task.arn, aws_iam_role.execution.arn]
        Condition = {
          StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" }
        }
      },
      {
        Sid      = "ReadRunAndStepLogs"
        Effect   = "Allow"
        Action   = ["logs:GetLogEvents", "logs:DescribeLogStreams"]
        Resource = ["${aws_cloudwatch_log_group.run.arn}:*"]
      },
    ]
  })
}

output "run_task_definition_arn" {
  description = "Task definition of Dagster run and step tasks: the EcsRunLauncher's task_definition (deploy/dagster/dagster.ecs.yaml) when sharded_scoring_job runs on the ECS step executor."
  value       = aws_ecs_task_definition.run.arn
}

output "run_task_definition_family" {
  description = "Family of the run/step task definition (RunTask is allowed for this family only)."
  value       = local.run_family
}

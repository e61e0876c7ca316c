# Optional real-time scoring endpoint (the serving-strategy note's optional path): the FastAPI app
# of `churn-platform serve`, loading the model that holds the registry alias, behind the edge
# load balancer. Clients authenticate with the API key (X-API-Key header) that the container
# receives as CHURN_API_KEY from Secrets Manager. CPU-based target-tracking autoscaling.

locals {
  realtime_enabled = var.realtime != null
  realtime_port    = 8000
}

resource "aws_cloudwatch_log_group" "realtime" {
  count = local.realtime_enabled ? 1 : 0

  name              = "/${var.name_prefix}/ecs/realtime"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

resource "aws_ecs_task_definition" "realtime" {
  count = local.realtime_enabled ? 1 : 0

  family                   = "${var.name_prefix}-realtime"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.realtime.cpu
  memory                   = var.realtime.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = "realtime"
    image                  = local.image
    essential              = true
    command                = ["churn-platform", "serve", "--host", "0.0.0.0", "--port", tostring(local.realtime_port), "--alias", var.realtime.alias]
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    portMappings           = [{ containerPort = local.realtime_port, protocol = "tcp" }]
    environment            = concat(local.app_environment, [{ name = "CHURN_SERVICE_ROLE", value = "realtime" }])
    secrets                = local.realtime_secrets
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    healthCheck = {
      # GET /healthz: 200 only once a model is loaded.
      command     = ["CMD", "python", "/opt/dagster/app/deploy/docker/healthcheck.py"]
      interval    = 15
      timeout     = 10
      retries     = 3
      startPeriod = 120
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.realtime[0].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "ecs"
      }
    }
  }])

  tags = local.tags
}

resource "aws_ecs_service" "realtime" {
  count = local.realtime_enabled ? 1 : 0

  name                              = "realtime"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.realtime[0].arn
  desired_count                     = var.realtime.min_count
  launch_type                       = "FARGATE"
  propagate_tags                    = "SERVICE"
  enable_execute_command            = false
  health_check_grace_period_seconds = 120

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.load_balancer.target_group_arns["realtime"]
    container_name   = "realtime"
    container_port   = local.realtime_port
  }

  # CI deploys new images; the autoscaler owns the task count.
  lifecycle {
    ignore_changes = [task_definition, desired_count]

    precondition {
      condition     = var.load_balancer != null && contains(keys(try(var.load_balancer.target_group_arns, {})), "realtime")
      error_message = "The real-time service needs the load balancer's realtime target group (edge module with enable_realtime = true)."
    }
  }

  tags = local.tags
}

resource "aws_appautoscaling_target" "realtime" {
  count = local.realtime_enabled ? 1 : 0

  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.realtime[0].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.realtime.min_count
  max_capacity       = var.realtime.max_count
}

resource "aws_appautoscaling_policy" "realtime_cpu" {
  count = local.realtime_enabled ? 1 : 0

  name               = "${var.name_prefix}-realtime-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.realtime[0].service_namespace
  resource_id        = aws_appautoscaling_target.realtime[0].resource_id
  scalable_dimension = aws_appautoscaling_target.realtime[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.realtime.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

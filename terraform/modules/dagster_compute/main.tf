# Dagster on ECS Fargate: webserver, daemon, code location (gRPC; runs execute inside it with the
# DefaultRunLauncher) and the MLflow tracking server, all from one image in one ECR repository.
# Service-to-service traffic uses Cloud Map names in a private DNS namespace; nothing is public.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.name
  bucket_name    = element(split(":::", var.artifact_bucket_arn), 1)
  namespace      = "${var.name_prefix}.internal"
  code_host      = "code-location.${local.namespace}"
  mlflow_host    = "mlflow.${local.namespace}"
  image          = "${aws_ecr_repository.app.repository_url}:${var.image_tag}"
  tags           = merge(var.tags, { "churn-platform:component" = "dagster-compute" })
  workspace_yaml = "/opt/dagster/app/deploy/dagster/workspace.yaml"

  services = {
    webserver = {
      role    = "webserver"
      port    = 3000
      command = ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", local.workspace_yaml]
    }
    daemon = {
      role    = "daemon"
      port    = null
      command = ["dagster-daemon", "run", "-w", local.workspace_yaml]
    }
    code_location = {
      role = "code-location"
      port = 4000
      command = ["dagster", "code-server", "start", "-m", "churn_platform.defs.definitions",
      "-h", "0.0.0.0", "-p", "4000", "--location-name", "churn_platform"]
    }
    mlflow = {
      role = "mlflow"
      port = 5000
      command = ["mlflow", "server", "--host=0.0.0.0", "--port=5000", "--workers=2",
        "--artifacts-destination=s3://${local.bucket_name}/mlflow", "--serve-artifacts",
      "--allowed-hosts=${local.mlflow_allowed_hosts}"]
    }
  }

  # Environment contract of churn_platform (same names as docker-compose.yml).
  app_environment = [
    { name = "CHURN_DB_SCHEMA", value = var.db_schema },
    { name = "MLFLOW_TRACKING_URI", value = "http://${local.mlflow_host}:5000" },
    { name = "AWS_DEFAULT_REGION", value = local.region },
    { name = "CHURN_ARTIFACT_ROOT", value = "s3://${local.bucket_name}/churn" },
    { name = "CHURN_MODEL_NAME", value = var.model_name },
    { name = "DAGSTER_PG_HOST", value = var.db_address },
    { name = "DAGSTER_PG_USER", value = "dagster" },
    { name = "DAGSTER_PG_DB", value = "dagster" },
    { name = "DAGSTER_CODE_HOST", value = local.code_host },
  ]
  app_secrets = [
    { name = "DATABASE_URL", valueFrom = var.secret_arns["database_url"] },
    { name = "DAGSTER_PG_PASSWORD", valueFrom = var.secret_arns["dagster_pg_password"] },
    { name = "SLACK_WEBHOOK_URL", valueFrom = var.secret_arns["slack_webhook_url"] },
  ]
  mlflow_environment = [{ name = "AWS_DEFAULT_REGION", value = local.region }]
  mlflow_secrets     = [{ name = "MLFLOW_BACKEND_STORE_URI", valueFrom = var.secret_arns["mlflow_backend_store_uri"] }]
  realtime_secrets = concat(local.app_secrets,
  var.realtime == null ? [] : [{ name = "CHURN_API_KEY", valueFrom = var.realtime.api_key_secret_arn }])
  # The execution role reads exactly the secrets the containers reference.
  referenced_secret_arns = distinct([for s in concat(local.app_secrets, local.mlflow_secrets, var.realtime == null ? [] : local.realtime_secrets) : s.valueFrom])

  # Services behind the edge load balancer: service key => container port.
  lb_services = var.load_balancer == null ? {} : {
    for k, port in { webserver = 3000, mlflow = 5000, realtime = 8000 } : k => port
    if contains(keys(var.load_balancer.target_group_arns), k)
  }
  mlflow_allowed_hosts = join(",", compact([local.mlflow_host, "${local.mlflow_host}:5000", var.mlflow_public_host,
  "localhost", "localhost:5000", "127.0.0.1:5000"]))
}

# --- Image registry -----------------------------------------------------------------------------

resource "aws_ecr_repository" "app" {
  name                 = "${var.name_prefix}/churn-platform"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the 50 most recent images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 50 }
      action       = { type = "expire" }
    }]
  })
}

# --- Logs ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.services

  name              = "/${var.name_prefix}/ecs/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = local.tags
}

# --- Network ------------------------------------------------------------------------------------

resource "aws_security_group" "tasks" {
  name        = "${var.name_prefix}-ecs-tasks"
  description = "Dagster and MLflow Fargate tasks"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-ecs-tasks" })
}

resource "aws_vpc_security_group_ingress_rule" "tasks_internal" {
  for_each = { grpc = 4000, mlflow = 5000 }

  security_group_id            = aws_security_group.tasks.id
  description                  = "${each.key} between the platform's own tasks"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.tasks.id
}

# From the edge load balancer only: each service's container port, from the ALB's group.
resource "aws_vpc_security_group_ingress_rule" "from_load_balancer" {
  for_each = local.lb_services

  security_group_id            = aws_security_group.tasks.id
  description                  = "${each.key} (port ${each.value}) from the edge load balancer"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = var.load_balancer.security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "operators" {
  for_each = { for pair in setproduct(var.operator_cidrs, [3000, 5000]) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id = aws_security_group.tasks.id
  description       = "UI port ${each.value[1]} from operator network ${each.value[0]}"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs (ECR, S3, Secrets Manager, Logs) and the Slack webhook"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_internal" {
  for_each = { grpc = 4000, mlflow = 5000 }

  security_group_id            = aws_security_group.tasks.id
  description                  = "${each.key} to the platform's own tasks"
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_postgres" {
  security_group_id = aws_security_group.tasks.id
  description       = "PostgreSQL inside the VPC (the DB group admits only this group)"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = local.namespace
  description = "Service discovery for ${var.name_prefix} (code location gRPC, MLflow)"
  vpc         = var.vpc_id
  tags        = local.tags
}

resource "aws_service_discovery_service" "this" {
  for_each = { code_location = "code-location", mlflow = "mlflow" }

  name = each.value

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"
    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }

  tags = local.tags
}

# --- IAM ----------------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Execution role: used by the ECS agent to pull the image, write logs and inject secrets.
resource "aws_iam_role" "execution" {
  name               = "${var.name_prefix}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "execution_managed" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "execution_secrets" {
  name = "read-platform-secrets"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadTheReferencedSecretsOnly"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = local.referenced_secret_arns
      },
      {
        Sid      = "DecryptSecretsAndImage"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

# Task role: what the application code itself may do. One bucket, one key, nothing else.
resource "aws_iam_role" "task" {
  name               = "${var.name_prefix}-ecs-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "task" {
  name = "artifact-bucket-only"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListArtifactBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [var.artifact_bucket_arn]
      },
      {
        Sid      = "ReadWriteArtifactObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        Resource = ["${var.artifact_bucket_arn}/*"]
      },
      {
        Sid      = "UseBucketKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

# --- ECS ----------------------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  name = "${var.name_prefix}-dagster"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each = local.services

  family                   = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_sizes[each.key].cpu
  memory                   = var.task_sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Read-only root filesystem; the only writable paths are these task-local scratch volumes.
  volume {
    name = "tmp"
  }
  volume {
    name = "dagster-storage"
  }

  container_definitions = jsonencode([{
    name                   = replace(each.key, "_", "-")
    image                  = local.image
    essential              = true
    command                = each.value.command
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    portMappings           = each.value.port == null ? [] : [{ containerPort = each.value.port, protocol = "tcp" }]
    environment = concat(
      each.key == "mlflow" ? local.mlflow_environment : local.app_environment,
      [{ name = "CHURN_SERVICE_ROLE", value = each.value.role }],
    )
    secrets = each.key == "mlflow" ? local.mlflow_secrets : local.app_secrets
    mountPoints = [
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
      { sourceVolume = "dagster-storage", containerPath = "/opt/dagster/dagster_home/storage", readOnly = false },
    ]
    healthCheck = {
      command     = ["CMD", "python", "/opt/dagster/app/deploy/docker/healthcheck.py"]
      interval    = 30
      timeout     = 10
      retries     = 3
      startPeriod = 90
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "ecs"
      }
    }
  }])

  tags = local.tags
}

resource "aws_ecs_service" "service" {
  for_each = local.services

  name                   = replace(each.key, "_", "-")
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.service[each.key].arn
  desired_count          = 1 # the daemon must be a singleton; the others are small internal services
  launch_type            = "FARGATE"
  propagate_tags         = "SERVICE"
  enable_execute_command = false

  # The daemon must never run twice: stop the old task before starting the new one.
  deployment_minimum_healthy_percent = each.key == "daemon" ? 0 : 100
  deployment_maximum_percent         = each.key == "daemon" ? 100 : 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = contains(keys(local.lb_services), each.key) ? [local.lb_services[each.key]] : []
    content {
      target_group_arn = var.load_balancer.target_group_arns[each.key]
      container_name   = replace(each.key, "_", "-")
      container_port   = load_balancer.value
    }
  }

  dynamic "service_registries" {
    for_each = contains(["code_location", "mlflow"], each.key) ? [aws_service_discovery_service.this[each.key].arn] : []
    content {
      registry_arn = service_registries.value
    }
  }

  # CI deploys new images with `aws ecs update-service --force-new-deployment` on a task
  # definition revision it registers; Terraform must not roll that back.
  lifecycle {
    ignore_changes = [task_definition]
  }

  tags = local.tags
}

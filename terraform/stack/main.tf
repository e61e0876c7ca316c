terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      project     = "churn-platform"
      environment = var.environment
      managed-by  = "terraform"
    }
  }
}

locals {
  name_prefix = "churn-${var.environment}"
  # Secrets the stack creates empty; values are put out of band (docs/deploy.md).
  application_secret_names = concat(
    ["slack_webhook_url", "database_url", "dagster_pg_password", "mlflow_backend_store_uri"],
    var.enable_realtime ? ["realtime_api_key"] : [],
  )
}

# The OIDC client secret is issued by the identity provider and stored in Secrets Manager before
# the first apply (docs/deploy.md); the load balancer needs its value.
data "aws_secretsmanager_secret_version" "oidc_client_secret" {
  count = var.auth_provider == "oidc" ? 1 : 0

  secret_id = var.oidc_client_secret_id
}

module "mlflow_backend" {
  source = "../modules/mlflow_backend"

  name_prefix               = local.name_prefix
  vpc_id                    = var.vpc_id
  private_subnet_ids        = var.private_subnet_ids
  client_security_group_ids = { ecs_tasks = module.dagster_compute.tasks_security_group_id }
  artifact_bucket_name      = var.artifact_bucket_name
  application_secret_names  = toset(local.application_secret_names)
  db_instance_class         = var.db_instance_class
  db_multi_az               = var.db_multi_az
  db_deletion_protection    = var.db_deletion_protection
}

module "dagster_compute" {
  source = "../modules/dagster_compute"

  name_prefix         = local.name_prefix
  vpc_id              = var.vpc_id
  private_subnet_ids  = var.private_subnet_ids
  operator_cidrs      = var.operator_cidrs
  artifact_bucket_arn = module.mlflow_backend.artifact_bucket_arn
  kms_key_arn         = module.mlflow_backend.kms_key_arn
  secret_arns         = module.mlflow_backend.application_secret_arns
  db_address          = module.mlflow_backend.db_address
  image_tag           = var.image_tag
  log_retention_days  = var.log_retention_days
  mlflow_public_host  = var.ui_hostnames.mlflow
  load_balancer = {
    security_group_id = module.edge.security_group_id
    target_group_arns = module.edge.target_group_arns
  }
  realtime = var.enable_realtime ? {
    api_key_secret_arn = module.mlflow_backend.application_secret_arns["realtime_api_key"]
    min_count          = var.realtime_min_count
    max_count          = var.realtime_max_count
  } : null
}

# Public HTTPS entry: OIDC/Cognito login before the Dagster and MLflow UIs, the optional
# real-time API (key checked by the app) on /v1/* and /healthz.
module "edge" {
  source = "../modules/edge"

  name_prefix         = local.name_prefix
  vpc_id              = var.vpc_id
  public_subnet_ids   = var.public_subnet_ids
  ingress_cidrs       = var.ingress_cidrs
  certificate_arn     = var.certificate_arn
  hostnames           = var.ui_hostnames
  auth_provider       = var.auth_provider
  oidc                = var.oidc
  oidc_client_secret  = var.auth_provider == "oidc" ? data.aws_secretsmanager_secret_version.oidc_client_secret[0].secret_string : null
  cognito             = var.cognito
  enable_realtime     = var.enable_realtime
  deletion_protection = var.alb_deletion_protection
}

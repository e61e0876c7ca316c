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
}

module "mlflow_backend" {
  source = "../../modules/mlflow_backend"

  name_prefix               = local.name_prefix
  vpc_id                    = var.vpc_id
  private_subnet_ids        = var.private_subnet_ids
  client_security_group_ids = { ecs_tasks = module.dagster_compute.tasks_security_group_id }
  artifact_bucket_name      = var.artifact_bucket_name
  db_instance_class         = var.db_instance_class
  db_multi_az               = var.db_multi_az
  db_deletion_protection    = var.db_deletion_protection
}

module "dagster_compute" {
  source = "../../modules/dagster_compute"

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
}

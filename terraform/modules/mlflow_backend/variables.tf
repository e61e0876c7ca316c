variable "name_prefix" {
  description = "Prefix for every resource name, e.g. churn-dev. Lowercase letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 4-32 chars of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC that hosts the database and the ECS tasks."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two AZs) for the RDS subnet group."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids needs at least two subnet-... ids (RDS requires two AZs)."
  }
}

variable "client_security_group_ids" {
  description = "Security groups allowed to reach PostgreSQL on 5432, keyed by a static name (e.g. { ecs_tasks = sg-... }) so the plan works while the ids are still unknown. Nothing else is admitted."
  type        = map(string)

  validation {
    condition     = length(var.client_security_group_ids) >= 1
    error_message = "client_security_group_ids needs at least one entry."
  }
}

variable "artifact_bucket_name" {
  description = "Globally unique name of the S3 bucket for MLflow artifacts and churn reports."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket_name)) && !can(regex("\\.\\.", var.artifact_bucket_name))
    error_message = "artifact_bucket_name must be a valid S3 bucket name (3-63 chars, lowercase, digits, dots, hyphens)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current object versions in the artifact bucket are deleted."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 7 && var.noncurrent_version_expiration_days <= 3650
    error_message = "noncurrent_version_expiration_days must be between 7 and 3650."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL major(.minor) version for RDS."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^1[5-7](\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 15, 16 or 17 (optionally with a minor version)."
  }
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.medium."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial allocated storage in GiB; autoscaling goes up to db_max_allocated_storage_gb."
  type        = number
  default     = 50

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 16384
    error_message = "db_allocated_storage_gb must be between 20 and 16384."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "Upper bound for storage autoscaling in GiB."
  type        = number
  default     = 200

  validation {
    condition     = var.db_max_allocated_storage_gb >= 20 && var.db_max_allocated_storage_gb <= 65536
    error_message = "db_max_allocated_storage_gb must be between 20 and 65536."
  }
}

variable "db_multi_az" {
  description = "Run the database Multi-AZ (recommended for prod)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backup retention in days (at least 7)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 and 35."
  }
}

variable "db_deletion_protection" {
  description = "Protect the database from deletion. Turn off only to tear down a throwaway environment."
  type        = bool
  default     = true
}

variable "db_master_username" {
  description = "Master user name; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "churn_admin"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{2,15}$", var.db_master_username)) && !contains(["admin", "postgres", "rdsadmin"], var.db_master_username)
    error_message = "db_master_username must be 3-16 chars, lowercase letters/digits/underscore, and not a reserved name."
  }
}

variable "application_secret_names" {
  description = "Secrets Manager secrets to create (values are set out of band, never in Terraform state), e.g. slack_webhook_url, database_url."
  type        = set(string)
  default     = ["slack_webhook_url", "database_url", "dagster_pg_password", "mlflow_backend_store_uri"]

  validation {
    condition     = alltrue([for n in var.application_secret_names : can(regex("^[a-z][a-z0-9_]{2,63}$", n))])
    error_message = "Secret names must be lowercase snake_case (3-64 chars)."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 (force delete) or between 7 and 30."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

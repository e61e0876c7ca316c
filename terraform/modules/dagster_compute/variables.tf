variable "name_prefix" {
  description = "Prefix for every resource name, e.g. churn-dev. Lowercase letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 4-32 chars of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC for the ECS tasks."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets for the Fargate tasks (egress through NAT or VPC endpoints; no public IPs)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 1 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids needs at least one subnet-... id."
  }
}

variable "operator_cidrs" {
  description = "CIDRs (VPN / bastion) allowed to open the Dagster UI (3000) and MLflow UI (5000). Empty = no human access except via SSM port forwarding."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.operator_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "operator_cidrs must be valid CIDRs and must not be 0.0.0.0/0 (the UIs have no authentication)."
  }
}

variable "artifact_bucket_arn" {
  description = "ARN of the one S3 bucket the tasks may use (MLflow artifacts + churn reports)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket_arn))
    error_message = "artifact_bucket_arn must be a bucket ARN (arn:aws:s3:::name), not an object or wildcard ARN."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the bucket, the secrets and the log groups."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "secret_arns" {
  description = "Secrets Manager ARNs the containers receive: keys database_url, dagster_pg_password, mlflow_backend_store_uri, slack_webhook_url."
  type        = map(string)

  validation {
    condition = alltrue([
      for k in ["database_url", "dagster_pg_password", "mlflow_backend_store_uri", "slack_webhook_url"] : contains(keys(var.secret_arns), k)
    ])
    error_message = "secret_arns must contain database_url, dagster_pg_password, mlflow_backend_store_uri and slack_webhook_url."
  }

  validation {
    condition     = alltrue([for arn in values(var.secret_arns) : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", arn))])
    error_message = "Every secret_arns value must be a Secrets Manager secret ARN (no wildcards)."
  }
}

variable "db_address" {
  description = "Hostname of the PostgreSQL instance."
  type        = string

  validation {
    condition     = length(var.db_address) > 0
    error_message = "db_address must not be empty."
  }
}

variable "image_tag" {
  description = "Tag of the churn_platform image in this module's ECR repository (CI pushes the git SHA)."
  type        = string
  default     = "bootstrap"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid, immutable Docker tag (not 'latest')."
  }
}

variable "model_name" {
  description = "Registered MLflow model name (CHURN_MODEL_NAME)."
  type        = string
  default     = "churn_model"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_.-]{0,63}$", var.model_name))
    error_message = "model_name must be 1-64 chars: letters, digits, _ . -"
  }
}

variable "db_schema" {
  description = "PostgreSQL schema of the application tables (CHURN_DB_SCHEMA)."
  type        = string
  default     = "churn"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.db_schema))
    error_message = "db_schema must be a lowercase PostgreSQL identifier."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for the platform's log groups."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ...)."
  }
}

variable "task_sizes" {
  description = "Fargate cpu units / memory MiB per service. The code location runs the jobs (training, scoring) in-process."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    webserver     = { cpu = 512, memory = 1024 }
    daemon        = { cpu = 256, memory = 1024 }
    code_location = { cpu = 2048, memory = 8192 }
    mlflow        = { cpu = 512, memory = 1024 }
  }

  validation {
    condition     = alltrue([for k in ["webserver", "daemon", "code_location", "mlflow"] : contains(keys(var.task_sizes), k)])
    error_message = "task_sizes needs entries for webserver, daemon, code_location and mlflow."
  }

  validation {
    condition     = alltrue([for s in values(var.task_sizes) : contains([256, 512, 1024, 2048, 4096, 8192, 16384], s.cpu) && s.memory >= 512 && s.memory <= 122880])
    error_message = "cpu must be a Fargate size (256 ... 16384) and memory between 512 and 122880 MiB."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "load_balancer" {
  description = "The edge module's load balancer: its security group and a target group ARN per service (webserver, mlflow, realtime). null = no load balancer (private service discovery only)."
  type = object({
    security_group_id = string
    target_group_arns = map(string)
  })
  default = null

  validation {
    condition     = var.load_balancer == null ? true : alltrue([for k in keys(var.load_balancer.target_group_arns) : contains(["webserver", "mlflow", "realtime"], k)])
    error_message = "load_balancer.target_group_arns may only have the keys webserver, mlflow and realtime."
  }
}

variable "mlflow_public_host" {
  description = "Public host name of the MLflow UI behind the load balancer (added to MLflow's --allowed-hosts). Empty = none."
  type        = string
  default     = ""
}

variable "realtime" {
  description = "Optional real-time scoring service (`churn-platform serve`) behind the load balancer. null = not deployed. api_key_secret_arn: Secrets Manager secret injected as CHURN_API_KEY."
  type = object({
    api_key_secret_arn = string
    cpu                = optional(number, 1024)
    memory             = optional(number, 2048)
    min_count          = optional(number, 1)
    max_count          = optional(number, 4)
    cpu_target_percent = optional(number, 60)
    alias              = optional(string, "production")
  })
  default = null

  validation {
    condition     = var.realtime == null ? true : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.realtime.api_key_secret_arn))
    error_message = "realtime.api_key_secret_arn must be a Secrets Manager secret ARN."
  }

  validation {
    condition     = var.realtime == null ? true : (var.realtime.min_count >= 1 && var.realtime.max_count >= var.realtime.min_count && var.realtime.cpu_target_percent >= 10 && var.realtime.cpu_target_percent <= 90)
    error_message = "realtime needs 1 <= min_count <= max_count and cpu_target_percent between 10 and 90."
  }
}

variable "aws_region" {
  description = "AWS region of this environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like eu-west-1."
  }
}

variable "environment" {
  description = "Environment name (dev or prod)."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "vpc_id" {
  description = "Existing VPC (the network is owned by the platform team's network stack)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets in at least two AZs, with egress via NAT or VPC endpoints."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids needs at least two subnet-... ids."
  }
}

variable "operator_cidrs" {
  description = "VPN/bastion CIDRs allowed to open the Dagster and MLflow UIs."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.operator_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "operator_cidrs must be valid CIDRs and never 0.0.0.0/0."
  }
}

variable "artifact_bucket_name" {
  description = "Globally unique S3 bucket name for MLflow artifacts and reports."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket_name))
    error_message = "artifact_bucket_name must be a valid S3 bucket name."
  }
}

variable "image_tag" {
  description = "Image tag the task definitions start with; CI deploys later tags itself."
  type        = string
  default     = "bootstrap"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid immutable tag (not 'latest')."
  }
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.medium."
  }
}

variable "db_multi_az" {
  description = "Multi-AZ database."
  type        = bool
}

variable "db_deletion_protection" {
  description = "Protect the database from deletion."
  type        = bool
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention in days."
  type        = number

  validation {
    condition     = contains([30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch value of at least 30."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets (two AZs or more) for the internet-facing load balancer."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "public_subnet_ids needs at least two subnet-... ids."
  }
}

variable "ingress_cidrs" {
  description = "Who may reach the load balancer (443; 80 only redirects). The UIs still require the OIDC/Cognito login."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate covering every name in ui_hostnames."
  type        = string
}

variable "ui_hostnames" {
  description = "Host names routed by the load balancer: dagster, mlflow (UIs behind login), realtime (API, with enable_realtime)."
  type = object({
    dagster  = string
    mlflow   = string
    realtime = optional(string, "")
  })
}

variable "auth_provider" {
  description = "Login in front of the UIs: oidc (organisation IdP) or cognito."
  type        = string
  default     = "oidc"
}

variable "oidc" {
  description = "OIDC identity provider: issuer, authorization/token/user-info endpoints, client id (auth_provider = oidc)."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    scope                  = optional(string, "openid email")
  })
  default = null
}

variable "oidc_client_secret_id" {
  description = "Name or ARN of the Secrets Manager secret holding the OIDC client secret (created before the first apply)."
  type        = string
  default     = null
}

variable "cognito" {
  description = "Cognito user pool ARN, app client id and domain (auth_provider = cognito)."
  type = object({
    user_pool_arn       = string
    user_pool_client_id = string
    user_pool_domain    = string
  })
  default = null
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion."
  type        = bool
  default     = true
}

variable "enable_realtime" {
  description = "Deploy the real-time scoring service (churn-platform serve) behind the load balancer."
  type        = bool
  default     = false
}

variable "realtime_min_count" {
  description = "Fewest real-time tasks (autoscaling floor)."
  type        = number
  default     = 1
}

variable "realtime_max_count" {
  description = "Most real-time tasks (autoscaling ceiling on CPU)."
  type        = number
  default     = 4
}

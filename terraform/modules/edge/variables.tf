variable "name_prefix" {
  description = "Prefix for every resource name, e.g. churn-dev (at most 20 chars: target group names are limited to 32)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 4-20 chars of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and of the ECS tasks behind it."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "public_subnet_ids" {
  description = "Public subnets (at least two AZs) for the internet-facing load balancer."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "public_subnet_ids needs at least two subnet-... ids (an ALB spans two AZs)."
  }
}

variable "ingress_cidrs" {
  description = "Client CIDRs allowed to reach the load balancer on 443 (and 80, which only redirects). Every UI request still needs the OIDC/Cognito login."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.ingress_cidrs) >= 1 && alltrue([for c in var.ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "ingress_cidrs must be a non-empty list of valid IPv4 CIDRs."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener; must cover every name in hostnames."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 + 1.2 only, forward-secret ciphers)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = contains(["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06"], var.ssl_policy)
    error_message = "ssl_policy must be a TLS 1.2+/1.3 policy (ELBSecurityPolicy-TLS13-1-2-2021-06, ...-Res-2021-06 or ELBSecurityPolicy-TLS13-1-3-2021-06)."
  }
}

variable "hostnames" {
  description = "DNS names routed by host header: dagster (UI), mlflow (UI), realtime (scoring API; used only with enable_realtime). Point them (CNAME/alias) at the load balancer."
  type = object({
    dagster  = string
    mlflow   = string
    realtime = optional(string, "")
  })

  validation {
    condition     = alltrue([for h in [var.hostnames.dagster, var.hostnames.mlflow] : can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", h))]) && var.hostnames.dagster != var.hostnames.mlflow
    error_message = "hostnames.dagster and hostnames.mlflow must be two different DNS names."
  }
}

variable "auth_provider" {
  description = "Who logs users in before the UIs: oidc (the organisation's IdP; set oidc + oidc_client_secret) or cognito (set cognito)."
  type        = string
  default     = "oidc"

  validation {
    condition     = contains(["oidc", "cognito"], var.auth_provider)
    error_message = "auth_provider must be oidc or cognito."
  }
}

variable "oidc" {
  description = "OIDC identity provider (auth_provider = oidc): issuer, endpoints, client id, scope."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    scope                  = optional(string, "openid email")
  })
  default = null

  validation {
    condition = var.oidc == null ? true : alltrue([
      for u in [var.oidc.issuer, var.oidc.authorization_endpoint, var.oidc.token_endpoint, var.oidc.user_info_endpoint] : startswith(u, "https://")
    ]) && length(var.oidc.client_id) > 0
    error_message = "oidc endpoints must be https:// URLs and client_id must not be empty."
  }
}

variable "oidc_client_secret" {
  description = "OIDC client secret (auth_provider = oidc). Read it from Secrets Manager in the caller; never commit it."
  type        = string
  default     = null
  sensitive   = true
}

variable "cognito" {
  description = "Cognito user pool (auth_provider = cognito): pool ARN, app client id, hosted-UI domain prefix."
  type = object({
    user_pool_arn       = string
    user_pool_client_id = string
    user_pool_domain    = string
  })
  default = null
}

variable "session_timeout_seconds" {
  description = "How long an ALB login session lasts before the user is sent to the IdP again."
  type        = number
  default     = 28800

  validation {
    condition     = var.session_timeout_seconds >= 300 && var.session_timeout_seconds <= 604800
    error_message = "session_timeout_seconds must be between 300 (5 min) and 604800 (7 days)."
  }
}

variable "enable_realtime" {
  description = "Route /v1/* and /healthz on hostnames.realtime to the optional real-time scoring service (API key checked by the app)."
  type        = bool
  default     = false
}

variable "realtime_port" {
  description = "Container port of the real-time scoring service."
  type        = number
  default     = 8000
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion (true in prod)."
  type        = bool
  default     = true
}

variable "access_log_bucket_name" {
  description = "Bucket for the load balancer's access logs; default <name_prefix>-alb-logs-<account id>."
  type        = string
  default     = null
}

variable "access_log_retention_days" {
  description = "Days the access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 30
    error_message = "access_log_retention_days must be at least 30."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

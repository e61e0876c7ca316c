# Public entry to the platform: an internet-facing HTTPS Application Load Balancer.
# - The Dagster and MLflow UIs are reachable only after the ALB has authenticated the user with the
#   organisation's OIDC identity provider (or a Cognito user pool): every rule forwarding to their
#   target groups starts with an authenticate-oidc / authenticate-cognito action.
# - The optional real-time endpoint is forwarded without a browser login (its clients are
#   machines): the application checks the X-API-Key header, and only /v1/* and /healthz are routed.
# - Anything else gets a fixed 404. Port 80 only redirects to 443. Access logs go to S3.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  tags = merge(var.tags, { "churn-platform:component" = "edge" })
  log_bucket_name = coalesce(
    var.access_log_bucket_name,
    "${var.name_prefix}-alb-logs-${data.aws_caller_identity.current.account_id}",
  )
  log_prefix = "alb"

  # UI target groups: (target group key, host name, container port, health check path).
  ui_targets = {
    dagster = { host = var.hostnames.dagster, port = 3000, health_path = "/server_info", matcher = "200" }
    mlflow  = { host = var.hostnames.mlflow, port = 5000, health_path = "/health", matcher = "200" }
  }
  realtime_enabled = var.enable_realtime
}

# --- Access logs --------------------------------------------------------------------------------

resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_145:ALB access logs can only be delivered to buckets encrypted with SSE-S3 (AES256); SSE-KMS is not supported by the log delivery service.
  # checkov:skip=CKV_AWS_18:This bucket is itself the access-log destination; logging it to another bucket would recurse.
  # checkov:skip=CKV2_AWS_62:Nothing consumes object-created events on load balancer logs.
  # checkov:skip=CKV_AWS_144:Access logs are audit data kept for the retention period in one region; cross-region replication is the account owner's DR decision.
  bucket        = local.log_bucket_name
  force_destroy = false
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "ElbLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/${local.log_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# --- Network ------------------------------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-alb"
  description = "Internet-facing load balancer in front of the Dagster and MLflow UIs"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = { for pair in setproduct(var.ingress_cidrs, [80, 443]) : "${pair[0]}:${pair[1]}" => pair }

  security_group_id = aws_security_group.alb.id
  description       = each.value[1] == 443 ? "HTTPS from ${each.value[0]}" : "HTTP from ${each.value[0]} (redirect to HTTPS only)"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

# To the tasks: the container ports only, inside the VPC (the tasks' group admits only this group).
resource "aws_vpc_security_group_egress_rule" "alb_to_targets" {
  for_each = toset([for p in concat([3000, 5000], local.realtime_enabled ? [var.realtime_port] : []) : tostring(p)])

  security_group_id = aws_security_group.alb.id
  description       = "Port ${each.value} to the platform's tasks"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

# The OIDC identity provider's token and user-info endpoints are called by the load balancer.
resource "aws_vpc_security_group_egress_rule" "alb_to_idp" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS to the identity provider (token and user-info endpoints)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# --- Load balancer ------------------------------------------------------------------------------

resource "aws_lb" "this" {
  # checkov:skip=CKV_AWS_150:Deletion protection is the deletion_protection variable (default true); prod sets it and its plan test asserts it, dev turns it off so the environment can be torn down.
  # checkov:skip=CKV2_AWS_28:No WAF in front yet: every UI request must first pass the ALB's OIDC/Cognito login, and the real-time routes require the API key; a WAF web ACL is tracked as a follow-up in docs/deploy.md.
  name                       = "${var.name_prefix}-edge"
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 120

  access_logs {
    bucket  = aws_s3_bucket.access_logs.bucket
    prefix  = local.log_prefix
    enabled = true
  }

  tags = local.tags

  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = local.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }

  tags = local.tags
}

# --- Target groups (ECS tasks register by IP: awsvpc networking) ---------------------------------

resource "aws_lb_target_group" "ui" {
  # checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the task is inside the VPC, restricted by security groups to this load balancer only.
  for_each = local.ui_targets

  name                 = "${var.name_prefix}-${each.key}"
  port                 = each.value.port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    enabled             = true
    path                = each.value.health_path
    matcher             = each.value.matcher
    interval            = 30
    timeout             = 10
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  stickiness {
    type    = "lb_cookie"
    enabled = false
  }

  tags = local.tags
}

resource "aws_lb_target_group" "realtime" {
  # checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the task is inside the VPC, restricted by security groups to this load balancer only.
  count = local.realtime_enabled ? 1 : 0

  name                 = "${var.name_prefix}-realtime"
  port                 = var.realtime_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    enabled             = true
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = local.tags
}

# --- Listener rules -----------------------------------------------------------------------------

# A UI is only forwarded to after the login action: ALB evaluates a rule's actions in `order`.
resource "aws_lb_listener_rule" "ui" {
  for_each = local.ui_targets

  listener_arn = aws_lb_listener.https.arn
  priority     = each.key == "dagster" ? 10 : 20

  dynamic "action" {
    for_each = var.auth_provider == "oidc" ? [var.oidc] : []
    content {
      type  = "authenticate-oidc"
      order = 1
      authenticate_oidc {
        issuer                     = action.value.issuer
        authorization_endpoint     = action.value.authorization_endpoint
        token_endpoint             = action.value.token_endpoint
        user_info_endpoint         = action.value.user_info_endpoint
        client_id                  = action.value.client_id
        client_secret              = var.oidc_client_secret
        scope                      = action.value.scope
        session_timeout            = var.session_timeout_seconds
        on_unauthenticated_request = "authenticate"
      }
    }
  }

  dynamic "action" {
    for_each = var.auth_provider == "cognito" ? [var.cognito] : []
    content {
      type  = "authenticate-cognito"
      order = 1
      authenticate_cognito {
        user_pool_arn              = action.value.user_pool_arn
        user_pool_client_id        = action.value.user_pool_client_id
        user_pool_domain           = action.value.user_pool_domain
        session_timeout            = var.session_timeout_seconds
        on_unauthenticated_request = "authenticate"
      }
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.ui[each.key].arn
  }

  condition {
    host_header {
      values = [each.value.host]
    }
  }

  lifecycle {
    precondition {
      condition     = var.auth_provider == "oidc" ? (var.oidc != null && var.oidc_client_secret != null) : var.cognito != null
      error_message = "The UIs need a login: with auth_provider = oidc set oidc and oidc_client_secret; with cognito set cognito."
    }
  }

  tags = local.tags
}

# Machine clients: no browser login (they could not follow it); the container checks the API key.
# Only the scoring API and the health check are routed; /metrics and the docs stay private.
resource "aws_lb_listener_rule" "realtime" {
  count = local.realtime_enabled ? 1 : 0

  listener_arn = aws_lb_listener.https.arn
  priority     = 30

  action {
    type             = "forward"
    order            = 1
    target_group_arn = aws_lb_target_group.realtime[0].arn
  }

  condition {
    host_header {
      values = [var.hostnames.realtime]
    }
  }

  condition {
    path_pattern {
      values = ["/v1/*", "/healthz"]
    }
  }

  lifecycle {
    precondition {
      condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.hostnames.realtime)) && !contains([var.hostnames.dagster, var.hostnames.mlflow], var.hostnames.realtime)
      error_message = "enable_realtime needs hostnames.realtime: a DNS name of its own (not a UI host name)."
    }
  }

  tags = local.tags
}

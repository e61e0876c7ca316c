# Offline unit tests: mocked AWS provider, plan only (no credentials, no API calls).
# The load balancer is the only public door: no route to a UI may skip the login.

mock_provider "aws" {
  override_data {
    target = data.aws_region.current
    values = { name = "eu-west-1" }
  }
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_vpc.this
    values = { cidr_block = "10.20.0.0/16" }
  }
  override_data {
    target = data.aws_iam_policy_document.access_logs
    values = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # Target group ARNs are computed by AWS; make them known at plan time so the rules' forward
  # actions can be matched to their target groups.
  override_resource {
    target          = aws_lb_target_group.ui["dagster"]
    override_during = plan
    values          = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/churn-test-dagster/1" }
  }
  override_resource {
    target          = aws_lb_target_group.ui["mlflow"]
    override_during = plan
    values          = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/churn-test-mlflow/2" }
  }
  override_resource {
    target          = aws_lb_target_group.realtime[0]
    override_during = plan
    values          = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/churn-test-realtime/3" }
  }
}

variables {
  name_prefix       = "churn-test"
  vpc_id            = "vpc-0123456789abcdef0"
  public_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
  hostnames = {
    dagster  = "dagster.churn.example.com"
    mlflow   = "mlflow.churn.example.com"
    realtime = "api.churn.example.com"
  }
  oidc = {
    issuer                 = "https://idp.example.com"
    authorization_endpoint = "https://idp.example.com/authorize"
    token_endpoint         = "https://idp.example.com/token"
    user_info_endpoint     = "https://idp.example.com/userinfo"
    client_id              = "churn-platform"
  }
  oidc_client_secret = format("%s-%s", "mock", "client-secret") # a test value, nothing real
  enable_realtime    = true
}

run "no_ui_route_skips_authentication" {
  command = plan

  # Every rule that forwards to the Dagster or MLflow target group has a login action ordered
  # before its forward action.
  assert {
    condition = alltrue(flatten([
      for r in values(aws_lb_listener_rule.ui) : [
        for fwd in r.action : anytrue([
          for a in r.action : contains(["authenticate-oidc", "authenticate-cognito"], a.type) && a.order < fwd.order
        ]) if fwd.type == "forward"
      ]
    ]))
    error_message = "A UI listener rule forwards without an authenticate-oidc/cognito action before it."
  }

  # ... and no other rule of the listener (the real-time one included) reaches a UI target group.
  assert {
    condition = alltrue(flatten([
      for r in aws_lb_listener_rule.realtime : [
        for a in r.action : !contains([for tg in values(aws_lb_target_group.ui) : tg.arn], coalesce(a.target_group_arn, "none"))
      ]
    ]))
    error_message = "A rule without login forwards to a UI target group."
  }

  # Both UIs are covered, each by exactly one rule on the HTTPS listener.
  assert {
    condition = length(aws_lb_listener_rule.ui) == 2 && alltrue([
      for k, r in aws_lb_listener_rule.ui : one([for a in r.action : a.target_group_arn if a.type == "forward"]) == aws_lb_target_group.ui[k].arn
    ])
    error_message = "Each UI target group must be reached by its own authenticated rule."
  }

  assert {
    condition     = aws_lb_listener_rule.ui["dagster"].action[0].authenticate_oidc[0].on_unauthenticated_request == "authenticate"
    error_message = "Unauthenticated browser requests must be sent to the IdP, never allowed through."
  }

  # The default action answers 404: a request for an unknown host reaches nothing.
  assert {
    condition     = aws_lb_listener.https.default_action[0].type == "fixed-response" && aws_lb_listener.https.default_action[0].fixed_response[0].status_code == "404"
    error_message = "The HTTPS listener's default action must be a fixed 404."
  }
}

run "tls_and_access_logs" {
  command = plan

  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "The HTTPS listener must use the pinned TLS 1.2/1.3 policy."
  }

  assert {
    condition     = aws_lb_listener.https.certificate_arn == var.certificate_arn
    error_message = "The certificate comes from the certificate_arn variable."
  }

  assert {
    condition     = aws_lb_listener.http.default_action[0].type == "redirect" && aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS"
    error_message = "Port 80 must only redirect to HTTPS."
  }

  assert {
    condition     = aws_lb.this.access_logs[0].enabled && aws_lb.this.access_logs[0].bucket == aws_s3_bucket.access_logs.bucket
    error_message = "Access logs must be enabled and go to the module's log bucket."
  }

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields && !aws_lb.this.internal
    error_message = "The public load balancer must drop invalid header fields."
  }

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.access_logs.block_public_acls,
      aws_s3_bucket_public_access_block.access_logs.block_public_policy,
      aws_s3_bucket_public_access_block.access_logs.ignore_public_acls,
      aws_s3_bucket_public_access_block.access_logs.restrict_public_buckets,
    ])
    error_message = "The access-log bucket must block all public access."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.access_logs.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "The access-log bucket must be encrypted (SSE-S3, the only kind ALB log delivery supports)."
  }
}

run "realtime_routes_only_the_api" {
  command = plan

  assert {
    condition     = toset(flatten([for c in aws_lb_listener_rule.realtime[0].condition : [for p in c.path_pattern : p.values]])) == toset(["/v1/*", "/healthz"])
    error_message = "The rule without login may route only /v1/* and /healthz."
  }

  assert {
    condition     = aws_lb_target_group.realtime[0].health_check[0].path == "/healthz"
    error_message = "The real-time target group checks /healthz."
  }
}

run "realtime_off_by_default" {
  command = plan

  variables {
    enable_realtime = false
  }

  assert {
    condition     = length(aws_lb_listener_rule.realtime) == 0 && length(aws_lb_target_group.realtime) == 0
    error_message = "Without enable_realtime nothing but the two authenticated UI rules exists."
  }
}

run "cognito_login" {
  command = plan

  variables {
    auth_provider      = "cognito"
    oidc               = null
    oidc_client_secret = null
    cognito = {
      user_pool_arn       = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf"
      user_pool_client_id = "client123"
      user_pool_domain    = "churn-login"
    }
  }

  assert {
    condition = alltrue([
      for r in values(aws_lb_listener_rule.ui) : [for a in r.action : a.type if a.order == 1][0] == "authenticate-cognito"
    ])
    error_message = "With Cognito every UI rule starts with authenticate-cognito."
  }
}

run "a_ui_without_login_is_refused" {
  command = plan

  variables {
    oidc               = null
    oidc_client_secret = null
  }

  expect_failures = [aws_lb_listener_rule.ui]
}

# Placeholder network ids: replace with the prod VPC and private subnets of your account.
aws_region             = "eu-west-1"
environment            = "prod"
vpc_id                 = "vpc-0f1e2d3c4b5a69788"
private_subnet_ids     = ["subnet-0f1e2d3c4b5a60001", "subnet-0f1e2d3c4b5a60002", "subnet-0f1e2d3c4b5a60003"]
operator_cidrs         = ["10.100.0.0/16"] # VPN
artifact_bucket_name   = "churn-platform-prod-artifacts-example"
db_instance_class      = "db.m7g.large"
db_multi_az            = true
db_deletion_protection = true
log_retention_days     = 365

# Public entry (HTTPS load balancer): placeholders, replace with your own.
public_subnet_ids       = ["subnet-0f1e2d3c4b5a61001", "subnet-0f1e2d3c4b5a61002", "subnet-0f1e2d3c4b5a61003"]
certificate_arn         = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000001"
ui_hostnames            = { dagster = "dagster.churn.example.com", mlflow = "mlflow.churn.example.com", realtime = "api.churn.example.com" }
auth_provider           = "oidc"
oidc_client_secret_id   = "churn-prod/oidc_client_secret"
alb_deletion_protection = true
enable_realtime         = true
realtime_min_count      = 2
realtime_max_count      = 8
oidc = {
  issuer                 = "https://login.example.com"
  authorization_endpoint = "https://login.example.com/oauth2/v1/authorize"
  token_endpoint         = "https://login.example.com/oauth2/v1/token"
  user_info_endpoint     = "https://login.example.com/oauth2/v1/userinfo"
  client_id              = "churn-platform-prod"
}

# Placeholder network ids: replace with the dev VPC and private subnets of your account.
aws_region             = "eu-west-1"
environment            = "dev"
vpc_id                 = "vpc-0a1b2c3d4e5f60789"
private_subnet_ids     = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
operator_cidrs         = ["10.100.0.0/16"] # VPN
artifact_bucket_name   = "churn-platform-dev-artifacts-example"
db_instance_class      = "db.t4g.medium"
db_multi_az            = false
db_deletion_protection = false # dev can be torn down; prod cannot
log_retention_days     = 90

# Public entry (HTTPS load balancer): placeholders, replace with your own.
public_subnet_ids       = ["subnet-0a1b2c3d4e5f61001", "subnet-0a1b2c3d4e5f61002"]
certificate_arn         = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
ui_hostnames            = { dagster = "dagster.churn-dev.example.com", mlflow = "mlflow.churn-dev.example.com", realtime = "api.churn-dev.example.com" }
auth_provider           = "oidc"
oidc_client_secret_id   = "churn-dev/oidc_client_secret"
alb_deletion_protection = false
enable_realtime         = true
realtime_min_count      = 1
realtime_max_count      = 2
oidc = {
  issuer                 = "https://login.example.com"
  authorization_endpoint = "https://login.example.com/oauth2/v1/authorize"
  token_endpoint         = "https://login.example.com/oauth2/v1/token"
  user_info_endpoint     = "https://login.example.com/oauth2/v1/userinfo"
  client_id              = "churn-platform-dev"
}

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

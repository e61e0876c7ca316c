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

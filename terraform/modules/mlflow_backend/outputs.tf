output "artifact_bucket_name" {
  description = "Name of the S3 bucket holding MLflow artifacts (prefix mlflow/) and churn reports (prefix churn/)."
  value       = aws_s3_bucket.artifacts.bucket
}

output "artifact_bucket_arn" {
  description = "ARN of the artifact bucket; the only bucket the ECS task role may touch."
  value       = local.bucket_arn
}

output "kms_key_arn" {
  description = "Customer-managed KMS key encrypting the bucket, RDS, secrets and log groups."
  value       = aws_kms_key.this.arn
}

output "db_address" {
  description = "Hostname of the RDS PostgreSQL instance (DAGSTER_PG_HOST, host part of DATABASE_URL)."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "Port of the RDS PostgreSQL instance."
  value       = aws_db_instance.this.port
}

output "db_security_group_id" {
  description = "Security group of the database (ingress only from client_security_group_ids)."
  value       = aws_security_group.db.id
}

output "db_master_user_secret_arn" {
  description = "Secrets Manager ARN of the RDS-managed master credentials (bootstrap only; not given to the tasks)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "application_secret_arns" {
  description = "Map of application secret name to Secrets Manager ARN (values are set out of band)."
  value       = { for name, secret in aws_secretsmanager_secret.app : name => secret.arn }
}

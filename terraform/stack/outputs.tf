output "ecr_repository_url" {
  description = "Push the churn_platform image here (GitHub variable ECR_REPOSITORY)."
  value       = module.dagster_compute.ecr_repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster of the Dagster services (GitHub variable ECS_CLUSTER)."
  value       = module.dagster_compute.ecs_cluster_name
}

output "ecs_service_names" {
  description = "ECS services to redeploy after an image push (GitHub variable ECS_SERVICES, space-separated)."
  value       = module.dagster_compute.ecs_service_names
}

output "artifact_bucket_name" {
  description = "S3 bucket for MLflow artifacts (mlflow/) and reports (churn/)."
  value       = module.mlflow_backend.artifact_bucket_name
}

output "db_address" {
  description = "RDS PostgreSQL hostname."
  value       = module.mlflow_backend.db_address
}

output "db_master_user_secret_arn" {
  description = "RDS-managed master credentials, used once to run deploy/postgres/init.sql."
  value       = module.mlflow_backend.db_master_user_secret_arn
}

output "application_secret_arns" {
  description = "Secrets to fill with `aws secretsmanager put-secret-value` before the first deployment."
  value       = module.mlflow_backend.application_secret_arns
}

output "service_discovery_names" {
  description = "Private DNS names of the code location and MLflow (reach them over VPN/SSM)."
  value       = module.dagster_compute.service_discovery_names
}

output "urls" {
  description = "Dagster and MLflow UIs (OIDC/Cognito login first) and, when enabled, the scoring API."
  value       = module.edge.urls
}

output "load_balancer_dns_name" {
  description = "Point the ui_hostnames at this name (Route 53 alias or CNAME)."
  value       = module.edge.load_balancer_dns_name
}

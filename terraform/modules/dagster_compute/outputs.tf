output "ecr_repository_url" {
  description = "ECR repository URL to push the churn_platform image to (CI secret/variable ECR_REPOSITORY)."
  value       = aws_ecr_repository.app.repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster running the Dagster services (CI variable ECS_CLUSTER)."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  description = "ECS service names keyed by component: webserver, daemon, code_location, mlflow (CI variable ECS_SERVICES)."
  value       = { for k, s in aws_ecs_service.service : k => s.name }
}

output "tasks_security_group_id" {
  description = "Security group of the Fargate tasks; the database admits only this group."
  value       = aws_security_group.tasks.id
}

output "task_role_arn" {
  description = "IAM role assumed by the application code (artifact bucket + KMS key only)."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "IAM role used by ECS to pull the image, write logs and inject the referenced secrets."
  value       = aws_iam_role.execution.arn
}

output "service_discovery_names" {
  description = "Private DNS names of the gRPC code location and of the MLflow server."
  value       = { code_location = local.code_host, mlflow = local.mlflow_host }
}

output "log_group_names" {
  description = "CloudWatch log group per service."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}

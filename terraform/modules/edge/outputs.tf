output "load_balancer_dns_name" {
  description = "DNS name of the load balancer: point the UI and API host names at it (alias/CNAME)."
  value       = aws_lb.this.dns_name
}

output "load_balancer_zone_id" {
  description = "Route 53 hosted zone of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "Security group of the load balancer; the tasks admit their UI/API ports from this group only."
  value       = aws_security_group.alb.id
}

output "target_group_arns" {
  description = "Target group ARN per ECS service: webserver (Dagster UI), mlflow, and realtime when enabled."
  value = merge(
    { webserver = aws_lb_target_group.ui["dagster"].arn, mlflow = aws_lb_target_group.ui["mlflow"].arn },
    local.realtime_enabled ? { realtime = aws_lb_target_group.realtime[0].arn } : {},
  )
}

output "urls" {
  description = "Where users open the UIs (after the OIDC/Cognito login) and where clients call the API."
  value = merge(
    { dagster = "https://${var.hostnames.dagster}/", mlflow = "https://${var.hostnames.mlflow}/" },
    local.realtime_enabled ? { realtime = "https://${var.hostnames.realtime}/v1/score" } : {},
  )
}

output "access_log_bucket" {
  description = "S3 bucket receiving the load balancer's access logs (prefix alb/)."
  value       = aws_s3_bucket.access_logs.id
}

output "ui_rule_actions" {
  description = "Actions (type, order) of each UI listener rule, for tests and audits: a login action must precede forward."
  value       = { for k, r in aws_lb_listener_rule.ui : k => [for a in r.action : { type = a.type, order = a.order }] }
}

output "https_listener" {
  description = "TLS settings of the HTTPS listener."
  value       = { ssl_policy = aws_lb_listener.https.ssl_policy, certificate_arn = aws_lb_listener.https.certificate_arn }
}

output "access_logs_enabled" {
  description = "Whether the load balancer writes access logs (to access_log_bucket)."
  value       = one(aws_lb.this.access_logs).enabled
}

output "deletion_protection" {
  description = "Whether the load balancer is protected from deletion."
  value       = aws_lb.this.enable_deletion_protection
}

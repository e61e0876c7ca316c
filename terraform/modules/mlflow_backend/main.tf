# MLflow backend: S3 artifact store + RDS PostgreSQL + Secrets Manager, one customer-managed
# KMS key for all of them (and for the platform's CloudWatch log groups).

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  # Built from the name (not read back from the bucket) so policies are known at plan time.
  bucket_arn = "arn:${local.partition}:s3:::${var.artifact_bucket_name}"
  tags       = merge(var.tags, { "churn-platform:component" = "mlflow-backend" })
}

# --- KMS ----------------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: MLflow artifacts, RDS, secrets and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Standard key policy: IAM policies of this account decide who may use the key.
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsPlatformLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/${var.name_prefix}/*"
          }
        }
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}-mlflow-backend"
  target_key_id = aws_kms_key.this.key_id
}

# --- S3 artifact bucket -------------------------------------------------------------------------

resource "aws_s3_bucket" "artifacts" {
  # checkov:skip=CKV_AWS_18:Access is audited with CloudTrail S3 data events at account level; a dedicated access-log bucket per environment adds a second bucket that would itself need logging.
  # checkov:skip=CKV2_AWS_62:Nothing consumes object-created events; MLflow and the app read the bucket on demand.
  # checkov:skip=CKV_AWS_144:Artifacts are reproducible (training data + code in git) and protected by versioning; cross-region replication is a DR decision left to the account owner.
  bucket = var.artifact_bucket_name
  tags   = local.tags
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs disabled
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyOutdatedTls"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
        Condition = { NumericLessThan = { "s3:TlsVersion" = "1.2" } }
      },
    ]
  })

  # A bucket policy cannot be attached while BPA is still being created.
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

# --- Secrets ------------------------------------------------------------------------------------

# Containers only: values are put with `aws secretsmanager put-secret-value` (docs/deploy.md), so
# no secret value ever lands in Terraform state or in this repository.
resource "aws_secretsmanager_secret" "app" {
  # checkov:skip=CKV2_AWS_57:Values are issued outside AWS (Slack webhook) or are DB role passwords rotated by the runbook in docs/deploy.md; no rotation Lambda is deployed. The RDS master password is rotated by RDS itself (manage_master_user_password).
  for_each = var.application_secret_names

  name                    = "${var.name_prefix}/${each.key}"
  description             = "${var.name_prefix}: ${each.key} (value set out of band)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

# --- PostgreSQL (RDS) ---------------------------------------------------------------------------

resource "aws_security_group" "db" {
  name        = "${var.name_prefix}-db"
  description = "PostgreSQL for MLflow, Dagster and churn: reachable only from the ECS tasks"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name_prefix}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "db_from_clients" {
  for_each = var.client_security_group_ids

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}
# No egress rule: the database initiates no connections.

resource "aws_db_subnet_group" "this" {
  name        = "${var.name_prefix}-db"
  description = "Private subnets for ${var.name_prefix} PostgreSQL"
  subnet_ids  = var.private_subnet_ids
  tags        = local.tags
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name_prefix}-pg${split(".", var.db_engine_version)[0]}"
  family      = "postgres${split(".", var.db_engine_version)[0]}"
  description = "${var.name_prefix}: TLS only, slow-query and DDL logging"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  tags = local.tags
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name_prefix}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  identifier     = "${var.name_prefix}-postgres"
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  # No initial database: deploy/postgres/init.sql creates churn, mlflow and dagster, each owned
  # by its own role.

  username                      = var.db_master_username
  manage_master_user_password   = true # generated + rotated by RDS in Secrets Manager
  master_user_secret_kms_key_id = aws_kms_key.this.key_id

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  parameter_group_name   = aws_db_parameter_group.this.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  backup_retention_period             = var.db_backup_retention_days
  backup_window                       = "02:00-03:00"
  maintenance_window                  = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot               = true
  delete_automated_backups            = false
  deletion_protection                 = var.db_deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name_prefix}-postgres-final"
  auto_minor_version_upgrade          = true
  apply_immediately                   = false

  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn

  tags = local.tags
}

# Offline unit tests: mocked AWS provider, plan only (no credentials, no API calls).
#   terraform init -backend=false && terraform test

mock_provider "aws" {
  # Mocks generate random strings for computed attributes; give the data sources that feed
  # ARNs and policies realistic values so policy documents are well-formed.
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
  override_data {
    target = data.aws_region.current
    values = { name = "eu-west-1" }
  }
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }
}

variables {
  name_prefix               = "churn-test"
  vpc_id                    = "vpc-0123456789abcdef0"
  private_subnet_ids        = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  client_security_group_ids = { ecs_tasks = "sg-0123456789abcdef0" }
  artifact_bucket_name      = "churn-test-artifacts"
}

run "bucket_is_private_encrypted_and_tls_only" {
  command = plan

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.artifacts.block_public_acls,
      aws_s3_bucket_public_access_block.artifacts.block_public_policy,
      aws_s3_bucket_public_access_block.artifacts.ignore_public_acls,
      aws_s3_bucket_public_access_block.artifacts.restrict_public_buckets,
    ])
    error_message = "All four S3 public access block settings must be on."
  }

  assert {
    condition     = aws_s3_bucket_ownership_controls.artifacts.rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced) so no object can be made public by ACL."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_server_side_encryption_configuration.artifacts.rule :
      contains(["aws:kms", "AES256"], one(r.apply_server_side_encryption_by_default).sse_algorithm)
    ])
    error_message = "The artifact bucket must be encrypted at rest (SSE-KMS or AES256)."
  }

  assert {
    condition     = aws_s3_bucket_versioning.artifacts.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be enabled on the artifact bucket."
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_s3_bucket_policy.artifacts.policy).Statement :
      s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"
    ])
    error_message = "The bucket policy must deny requests without TLS."
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_s3_bucket_policy.artifacts.policy).Statement : s.Effect == "Deny"
    ])
    error_message = "The bucket policy may only contain Deny statements (no grants to other principals)."
  }

  assert {
    condition     = output.artifact_bucket_arn == "arn:aws:s3:::churn-test-artifacts"
    error_message = "artifact_bucket_arn output must be the ARN of the bucket."
  }
}

run "database_is_private_and_encrypted" {
  command = plan

  assert {
    condition     = aws_db_instance.this.publicly_accessible == false
    error_message = "RDS must not be publicly accessible."
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted == true
    error_message = "RDS storage must be encrypted."
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == true && aws_db_instance.this.password == null
    error_message = "The master password must be managed by RDS in Secrets Manager, never set in Terraform."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period >= 7 && aws_db_instance.this.deletion_protection
    error_message = "Backups (>= 7 days) and deletion protection are required by default."
  }

  assert {
    condition = alltrue([
      for r in aws_vpc_security_group_ingress_rule.db_from_clients :
      r.referenced_security_group_id == "sg-0123456789abcdef0" && r.cidr_ipv4 == null && r.from_port == 5432 && r.to_port == 5432
    ])
    error_message = "DB ingress must come only from the client security group, on 5432, never from a CIDR."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.db_from_clients) == 1
    error_message = "Exactly one ingress rule per client security group."
  }
}

run "deletion_protection_can_be_turned_off_for_throwaway_envs" {
  command = plan

  variables {
    db_deletion_protection = false
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection == false
    error_message = "db_deletion_protection must be passed through."
  }
}

run "rejects_invalid_bucket_name" {
  command = plan

  variables {
    artifact_bucket_name = "Not_A_Bucket"
  }

  expect_failures = [var.artifact_bucket_name]
}

# Remote state in S3 with native S3 locking (Terraform >= 1.10). Partial configuration: the
# state key comes from the environment's backend file, the state bucket and region at init time,
# so nothing account-specific is committed and `terraform init -backend=false` works offline
# (validation, tests). One root, one state per environment:
#   terraform init -reconfigure -backend-config=../environments/dev.s3.tfbackend \
#     -backend-config="bucket=<state-bucket>" -backend-config="region=<region>"
# The state bucket is bootstrapped once by hand (docs/deploy.md): versioned, encrypted, private.
terraform {
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}

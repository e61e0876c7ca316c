# Remote state in S3 with native S3 locking (Terraform >= 1.10). Partial configuration: the
# state bucket and region are supplied at init time, so nothing account-specific is committed and
# `terraform init -backend=false` works offline (validation, tests):
#   terraform init -backend-config="bucket=<state-bucket>" -backend-config="region=<region>"
# The state bucket is bootstrapped once by hand (docs/deploy.md): versioned, encrypted, private.
terraform {
  backend "s3" {
    key          = "churn-platform/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

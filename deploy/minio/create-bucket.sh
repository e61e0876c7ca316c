#!/bin/sh
# One-shot job (minio/mc image): create the artifact bucket and an application user whose
# policy reaches only that bucket (the same least privilege as the ECS task role on AWS).
# Idempotent: safe to re-run on every `docker compose up`.
set -eu
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "local/$CHURN_BUCKET"
mc version enable "local/$CHURN_BUCKET"
mc anonymous set none "local/$CHURN_BUCKET"
sed "s/CHURN_BUCKET/$CHURN_BUCKET/g" /policies/churn-app-policy.json > /tmp/churn-app-policy.json
mc admin policy create local churn-app /tmp/churn-app-policy.json
mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
mc admin policy attach local churn-app --user "$AWS_ACCESS_KEY_ID" || true  # already attached
echo "bucket $CHURN_BUCKET and user $AWS_ACCESS_KEY_ID ready"

"""Training: training set and model version assets, the training job, the quarterly schedule
and the retraining sensor (monitor breaches → training_job)."""

from churn_platform.defs.training.assets import churn_model, training_dataset
from churn_platform.defs.training.jobs import training_job
from churn_platform.defs.training.schedules import quarterly_retraining_schedule
from churn_platform.defs.training.sensors import retraining_sensor

ASSETS = [training_dataset, churn_model]
JOBS = [training_job]
SCHEDULES = [quarterly_retraining_schedule]
SENSORS = [retraining_sensor]

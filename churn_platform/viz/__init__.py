"""Pictures and tables for people (PNG plots, markdown); no I/O, no Dagster."""

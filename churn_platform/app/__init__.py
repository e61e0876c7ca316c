"""Use cases: one function each over storage and model interfaces, returning typed results.

The CLI, the Dagster assets, the demo and the real-time app are thin adapters over this layer.
"""

"""Manifests, datasets and batch-job bookkeeping."""

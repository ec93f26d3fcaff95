"""Feature extraction and the on-disk feature cache."""

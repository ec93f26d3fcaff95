"""The project's own default models: their training set, training stages, export and bundled examples."""

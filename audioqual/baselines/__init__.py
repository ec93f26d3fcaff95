"""Established metrics (ViSQOL, PEAQ, 2f-model, HAAQI, FAD) behind the PairMetric interface."""

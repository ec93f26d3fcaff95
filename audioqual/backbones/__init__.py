"""Self-supervised audio encoders behind one interface."""

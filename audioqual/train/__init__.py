"""Training: the generic resumable loop (trainer, config), the no-reference pipeline (nr, nr_config), DeePAQ (deepaq)."""

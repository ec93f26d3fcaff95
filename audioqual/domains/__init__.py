"""Domain-adversarial training: gradient reversal, domain branch, domain label strategies."""

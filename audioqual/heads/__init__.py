"""Quality heads: what a head is (base), the heads by name (registry), MultiGauss and Audiobox-Aesthetics."""

"""Latent-space analyses and ablations of no-reference models (seed 000, Sec. IV): UMAP, quality terrain,
linear probing, K ablation, strategy comparison."""

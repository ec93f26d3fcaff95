"""Corpus-scale execution of batch jobs on Ray (optional extra: `pip install audioqual[ray]`)."""

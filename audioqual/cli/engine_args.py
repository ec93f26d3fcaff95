"""Command-line options shared by batch commands that can run on Ray."""

from __future__ import annotations

import argparse


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine and --ray-address (the worker count is each command's --workers)."""
    parser.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this machine; ray: Ray Data actors on a cluster (pip install 'audioqual[ray]'), same output",
    )
    parser.add_argument("--ray-address", help="address of a running Ray cluster (default: start a local one)")

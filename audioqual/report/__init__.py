"""HTML reports of evaluation runs."""

"""Machine learning without leakage: labels, purged walk-forward splits, model zoo, validation, canaries."""

"""The model zoo: one module per model."""

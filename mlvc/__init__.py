"""mlvc: lineage tracking for machine learning, shaped like git."""

__version__ = "0.1.0"

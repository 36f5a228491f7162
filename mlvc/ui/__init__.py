"""The local lineage page: `mlvc ui` serves it from the store, `mlvc ui --export` writes it."""

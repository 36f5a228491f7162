"""One user-visible operation per module: takes a Repo, returns a result dataclass."""

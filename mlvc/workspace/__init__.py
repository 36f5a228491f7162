"""The workspace: which paths count (ignore rules), walking them, and snapshotting them."""

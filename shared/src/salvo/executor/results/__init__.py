"""Results: what a run produced, read as it is written into summary.json, and uploaded with its artifacts."""

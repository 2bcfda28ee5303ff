"""Near-duplicate detection, plain Python and numpy (no Django): the core that the dedup jobs
of issue 5 will run. Work in progress: not yet wired to jobs, the API or the UI."""

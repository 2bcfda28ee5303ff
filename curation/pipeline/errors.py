class UnreadableFile(Exception):
    """The file as a whole cannot be read (binary, wrong encoding, truncated, no records)."""


class RowError(Exception):
    """One record is invalid; it is reported by line and skipped."""

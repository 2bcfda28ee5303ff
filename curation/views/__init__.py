"""The web UI: server-rendered pages (htmx for partial swaps) over the same services as the API."""

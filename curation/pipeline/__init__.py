"""Plain-Python import pipeline: decode a byte stream, read records, map them to example fields.

Nothing here touches the database; services/imports.py drives it and writes the rows.
"""

"""Refuse uploads above FINCH_MAX_UPLOAD_BYTES while they stream in, before they fill the disk."""

from __future__ import annotations

from typing import IO

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler

from curation.errors import TooLarge


def upload_limit_message(size: int) -> str:
    limit = settings.FINCH_MAX_UPLOAD_BYTES
    return f"The upload is {size} bytes; the limit is {limit} bytes (FINCH_MAX_UPLOAD_BYTES)."


class LimitedUploadHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: counts the bytes and stops the upload past the limit."""

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],  # noqa: N803 (Django's name)
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        if content_length > settings.FINCH_MAX_UPLOAD_BYTES:
            raise TooLarge(upload_limit_message(content_length))

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.FINCH_MAX_UPLOAD_BYTES:
            raise TooLarge(upload_limit_message(start + len(raw_data)))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from curation import filters as query
from curation.errors import InvalidInput

BAD_CURSOR = (
    "cursor is not one this list gave out: follow a page's `next` or `previous` link, or leave cursor "
    "out to start from the first page."
)


class IdCursorPagination(CursorPagination):
    """Newest first, stable under inserts, fast at any depth: `{"results", "next", "previous"}`.

    Every list of the API pages with it (FinchAPIView.paginated), so a cursor is checked here
    once: DRF decodes a cursor's position as text and hands it to the database unchecked, so
    `p=abc`, `p=nan` or `p=1e999` would be a database error (a 500); here any cursor that is not
    one this class made is a 400 naming `cursor`; so is a `page_size` that is not a whole number."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request: Request) -> int:
        """`page_size`, a whole number from 1 (default page_size; more than max_page_size gets
        that many): anything else is a 400 naming it, as with every filter, where DRF fell back
        to the default without a word (`page_size=0`, `abc`, `1e3`)."""
        given = query.whole_number(request.query_params.get(self.page_size_query_param), "page_size", low=1)
        return min(given, self.max_page_size) if given else self.page_size

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:  # DRF's answer to a cursor that is not base64 of a query string
            raise InvalidInput(BAD_CURSOR, field="cursor") from exc
        if cursor is None or cursor.position is None:
            return cursor
        try:
            position = query.whole_number(str(cursor.position or "?"), "position", low=1)
        except InvalidInput as exc:
            raise InvalidInput(f"{BAD_CURSOR} Its {exc.message}", field="cursor") from exc
        return Cursor(offset=cursor.offset, reverse=cursor.reverse, position=position)

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Newest first, stable under inserts, fast at any depth: `{"results", "next", "previous"}`."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000

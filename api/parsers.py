from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from curation.pipeline import json_values


class SafeJSONParser(JSONParser):
    """DRF's JSON parser (which refuses NaN and Infinity), but JSON nested too deeply for Python
    or holding an integer too long for it is a plain 400, not a crash or Python's own message.
    Numbers that overflow to infinity (1e999) parse; the services refuse them naming the field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        except ParseError as exc:
            if "digits" in str(exc.detail):
                raise ParseError(f"JSON parse error - the document {json_values.TOO_BIG_INT}.") from exc
            raise

import codecs
from typing import Any

from rest_framework import parsers as drf_parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from curation.pipeline import json_values


class SafeJSONParser(JSONParser):
    """DRF's JSON parser (which refuses NaN and Infinity), but JSON nested too deeply for Python
    or holding an integer too long for it is a plain 400, not a crash or Python's own message,
    and so is an object giving one key twice (Python would keep the last value silently).
    Numbers that overflow to infinity (1e999) parse; the services refuse them naming the field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return self._decoded(stream, parser_context or {})
        except json_values.RepeatedKey as exc:
            raise ParseError(f"JSON parse error - the document {exc}.") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
        except ParseError as exc:
            if "digits" in str(exc.detail):
                raise ParseError(f"JSON parse error - the document {json_values.TOO_BIG_INT}.") from exc
            raise

    def _decoded(self, stream: Any, parser_context: dict[str, Any]) -> Any:
        """JSONParser.parse with the repeated-key hook (DRF passes no hook of its own)."""
        # DRF's charset check refuses bytes-to-bytes codecs (a bz2 body growing past the size limit).
        encoding = drf_parsers.get_encoding(parser_context)  # type: ignore[attr-defined]  # not in the stubs
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json.loads(text, object_pairs_hook=json_values.unique_keys)
        except json_values.RepeatedKey:
            raise
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc

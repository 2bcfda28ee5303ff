"""An extraction project's output_schema, checked so that neither saving it nor checking outputs
against it can reach outside Finch, hang a worker or fail with a 500.

- References stay inside the schema: a `$ref` that is not a fragment (`#/$defs/...`) is refused
  when the schema is saved, and the validator's registry retrieves nothing (jsonschema would
  otherwise fetch any URL a schema names, and echo what came back in its errors).
- Patterns run on the `regex` module with a time limit: on Python's `re`, `^(a+)+$` takes
  seconds at 26 characters and doubles with each one more; `regex` copes with that one but
  not with every such pattern (`^(a|aa)+$`).
- A schema that cannot be applied (a reference to nowhere, one that refers to itself without
  end, a number too large for `multipleOf`) is a clear InvalidInput, at save time where a
  trial on plain values shows it, else on the output that shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import referencing
import referencing.exceptions
import regex
from jsonschema import validators
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

from curation.errors import InvalidInput

# Seconds one pattern may take on one value: a sane pattern takes microseconds.
PATTERN_SECONDS = 0.05
REFERENCE_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
# Values a saved schema is tried on, so that a reference to nowhere at its root is refused then.
TRIAL_VALUES: tuple[Any, ...] = ({}, [], "", 0, None, True)
Validator = Any  # a jsonschema validator instance (its classes are made at run time)


def checked_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, if it is a valid JSON Schema whose references stay inside it and that applies
    to plain values; else InvalidInput naming the problem (field output_schema)."""
    try:
        validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise _schema_refused(f"is not a valid JSON Schema: {exc.message}") from exc
    outside = sorted({ref for ref in _references(schema) if not ref.startswith("#")})
    if outside:
        raise _schema_refused(
            f"refers outside itself ({', '.join(map(repr, outside))}): only references within the "
            "schema, such as '#/$defs/name', are allowed"
        )
    validator = schema_validator(schema)
    for value in TRIAL_VALUES:
        try:
            problems(validator, value)
        except InvalidInput as exc:
            raise _schema_refused(f"cannot be applied: {exc.message.rstrip('.')}") from exc
    return schema


def schema_validator(schema: dict[str, Any]) -> Validator:
    """A validator for the schema whose patterns have a time limit and whose references
    retrieve nothing."""
    base = validator_for(schema, default=jsonschema.Draft202012Validator)
    bounded = validators.extend(
        base,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
    return bounded(schema, registry=referencing.Registry(retrieve=_retrieve_nothing))  # type: ignore[call-arg]


def problems(validator: Validator, document: Any) -> list[ValidationError]:
    """The document's schema errors, by path; InvalidInput (field output) where the schema
    cannot be applied to it."""
    try:
        return sorted(
            validator.iter_errors(document), key=lambda error: [str(part) for part in error.absolute_path]
        )
    except referencing.exceptions.Unresolvable as exc:
        raise InvalidInput(
            f"the output_schema has a reference that leads nowhere ({exc}).", field="output"
        ) from exc
    except RecursionError as exc:
        raise InvalidInput("the output_schema refers to itself without end.", field="output") from exc
    except OverflowError as exc:
        raise InvalidInput(
            f"a number in the output is too large to check against the schema ({exc}).", field="output"
        ) from exc


def conforms(validator: Validator | None, document: Any) -> bool:
    """Whether a model's output matches the schema (any, where there is none); an output the
    schema cannot be applied to does not."""
    if validator is None:
        return True
    try:
        return not problems(validator, document)
    except InvalidInput:
        return False


def _schema_refused(problem: str) -> InvalidInput:
    return InvalidInput(f"output_schema {problem}.", field="output_schema")


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in REFERENCE_KEYS and isinstance(value, str):
                yield value
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _retrieve_nothing(uri: str) -> referencing.Resource[Any]:
    raise referencing.exceptions.NoSuchResource(uri)


def _matches(pattern: str, text: str) -> bool:
    try:
        return regex.search(pattern, text, timeout=PATTERN_SECONDS) is not None
    except TimeoutError as exc:
        raise InvalidInput(
            f"the output_schema's pattern {pattern!r} takes too long on {text[:40]!r}: simplify the pattern "
            "(nested repeats such as (a+)+ take exponential time).",
            field="output",
        ) from exc


# jsonschema's own `pattern`, `patternProperties` and `additionalProperties` with _matches for re.search


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, allowed: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in schema.get("properties", {}) and not any(_matches(pattern, key) for pattern in patterns)
    ]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        named = ", ".join(repr(extra) for extra in sorted(extras, key=str))
        yield ValidationError(f"Additional properties are not allowed ({named} unexpected)")

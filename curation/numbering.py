"""Per-project numbers for rows numbered by a global id (training runs, eval runs, comparisons):
pages say "Run 1" for a project's first run whatever its id, as versions already do."""

from __future__ import annotations

from typing import TypeVar

from django.db.models import Count, Model, OuterRef, QuerySet, Subquery

M = TypeVar("M", bound=Model)


def numbered(
    rows: QuerySet[M],
    project: str,
    *,
    name: str = "number",
    id_field: str = "id",
    of: type[Model] | None = None,
    of_project: str = "",
) -> QuerySet[M]:
    """`rows` annotated with `name`: the per-project number of the row with id `id_field` (this row
    by default; a related row of model `of`, whose project is at `of_project`, otherwise), that is
    how many rows of that model in the project (at lookup path `project`) have an id up to it.
    A correlated count, so it stays right under any filter or slice of `rows`."""
    model = of or rows.model
    path = of_project or project
    earlier = (
        model._default_manager.filter(**{path: OuterRef(project), "id__lte": OuterRef(id_field)})
        .order_by()
        .values(path)
        .annotate(n=Count("id"))
        .values("n")
    )
    return rows.annotate(**{name: Subquery(earlier)})

"""Groups from pairs: a union-find with path halving and union by size."""

from __future__ import annotations

from collections.abc import Iterable


def groups(pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected groups (each sorted, two or more members) of the items named in `pairs`."""
    parent: dict[int, int] = {}
    size: dict[int, int] = {}

    def root(item: int) -> int:
        parent.setdefault(item, item)
        size.setdefault(item, 1)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for left, right in pairs:
        a, b = root(left), root(right)
        if a == b:
            continue
        if size[a] < size[b]:
            a, b = b, a
        parent[b] = a
        size[a] += size[b]
    members: dict[int, list[int]] = {}
    for item in parent:
        members.setdefault(root(item), []).append(item)
    return sorted(sorted(group) for group in members.values() if len(group) > 1)

"""docs/api-guide.md stays honest: every route and method of api/urls.py has a curl example there,
and every call the guide makes names a real route with a method it allows (or, marked
`# expect 405`, one it refuses). No server: paths are resolved by Django's URL resolver."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.urls import Resolver404, URLPattern, resolve

from api import urls as api_urls

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api-guide.md"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}  # answered by every view; nobody writes examples of them

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{2,4} `(GET|POST|PUT|PATCH|DELETE) (/api/[^`\s]*)`", re.MULTILINE)
CURL = re.compile(r"\bcurl\s")
FINCH_URL = re.compile(r"""\$\{?FINCH\}?(/api/[^\s"'?]*)""")
METHOD_OPTION = re.compile(r"(?:-X|--request)\s+([A-Z]+)\b")
BODY_OPTION = re.compile(r"\s(?:-d|--data(?:-binary|-raw|-urlencode)?|-F|--form|--json)\s")
SCRIPT_CALL = re.compile(r"""\bapi\s+(GET|POST|PUT|PATCH|DELETE)\s+["']?(/api/[^\s"'?]*)""")
PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_]\w*\}?|\{[A-Za-z_]\w*\}")


@dataclass(frozen=True)
class Call:
    """One request the guide shows: its method, its path as written, and whether it is a refusal."""

    method: str
    path: str
    refused: bool = False


def logical_lines(script: str) -> list[str]:
    """Shell lines with backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def calls_in_line(line: str, *, refused: bool) -> list[Call]:
    """The requests one shell line makes: curl commands (method from -X, else POST when it sends a
    body, else GET), the guide script's `api METHOD PATH`, and `$FINCH/api/...` URLs kept for a
    later curl (GET)."""
    calls: list[Call] = []
    starts = [match.start() for match in CURL.finditer(line)]
    covered: list[tuple[int, int]] = []
    ends = [*starts[1:], len(line)] if starts else []
    for start, end in zip(starts, ends, strict=True):
        segment = re.split(r"\s\|\s", line[start:end])[0]
        covered.append((start, start + len(segment)))
        url = FINCH_URL.search(segment)
        if url is None:
            continue
        method = METHOD_OPTION.search(segment)
        implied = "POST" if BODY_OPTION.search(segment) else "GET"
        calls.append(Call(method.group(1) if method else implied, url.group(1), refused))
    for url in FINCH_URL.finditer(line):
        if not any(start <= url.start() < end for start, end in covered):
            calls.append(Call("GET", url.group(1), refused))
    calls.extend(Call(match.group(1), match.group(2), refused) for match in SCRIPT_CALL.finditer(line))
    return calls


def shell_calls(markdown: str) -> list[Call]:
    """Every request in the guide's bash blocks; a `# expect 405` comment marks the next line's."""
    calls: list[Call] = []
    for language, body in FENCE.findall(markdown):
        if language not in {"bash", "sh", "shell"}:
            continue
        expect_refusal = False
        for line in logical_lines(body):
            stripped = line.strip()
            if stripped.startswith("#"):
                expect_refusal = expect_refusal or "expect 405" in stripped
                continue
            found = calls_in_line(line, refused=expect_refusal)
            expect_refusal = expect_refusal and not found
            calls.extend(found)
    return calls


def heading_calls(markdown: str) -> list[Call]:
    return [Call(method, path) for method, path in HEADING.findall(markdown)]


def concrete(path: str) -> str:
    """A path with its placeholders ($EXAMPLE, ${RUN}, {id}) replaced by an id that fits any route."""
    return PLACEHOLDER.sub("1", path)


def allowed_methods(view: object) -> set[str]:
    """The methods a view function's class handles (as_view() records the class on the function)."""
    view_class = getattr(view, "view_class", None)
    assert view_class is not None, f"{view} is not a class-based view"
    return {
        name.upper() for name in view_class.http_method_names if hasattr(view_class, name)
    } - SKIPPED_METHODS


def route_of(call: Call) -> tuple[str, set[str]] | None:
    """The route name the call's path resolves to and the methods it allows; None for no route."""
    try:
        match = resolve(concrete(call.path))
    except Resolver404:
        return None
    return str(match.url_name), allowed_methods(match.func)


def shown_endpoints(markdown: str) -> set[tuple[str, str]]:
    """(route name, method) of every call the guide shows that is not a refusal."""
    routes = ((route_of(call), call.method) for call in shell_calls(markdown) if not call.refused)
    return {(route[0], method) for route, method in routes if route is not None}


def api_routes() -> dict[str, set[str]]:
    patterns = [pattern for pattern in api_urls.urlpatterns if isinstance(pattern, URLPattern)]
    return {str(pattern.name): allowed_methods(pattern.callback) for pattern in patterns}


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_the_parser_reads_methods_paths_and_refusals() -> None:
    markdown = "\n".join(
        [
            "```bash",
            'curl -s "$FINCH/api/projects/1/examples/?status=approved" -H "Authorization: Token $TOKEN"',
            'curl -s -X POST "$FINCH/api/projects/1/imports/" \\',
            "  -F file=@a.csv | tee import.json",
            'RUN=$(curl -s "$FINCH/api/training-runs/" -d \'{"version": 1}\' | jq -r .id)',
            'url="$FINCH/api/examples/${EXAMPLE}/history/"',
            "# expect 405",
            'curl -s -X DELETE "$FINCH/api/versions/$VERSION/"',
            'IMPORT=$(api POST "/api/projects/$PROJECT/imports/" -F "file=@$FILE" | jq -r .id)',
            "```",
            "```json",
            '{"next": "$FINCH/api/not/a/call/"}',
            "```",
        ]
    )
    assert shell_calls(markdown) == [
        Call("GET", "/api/projects/1/examples/"),
        Call("POST", "/api/projects/1/imports/"),
        Call("POST", "/api/training-runs/"),
        Call("GET", "/api/examples/${EXAMPLE}/history/"),
        Call("DELETE", "/api/versions/$VERSION/", refused=True),
        Call("POST", "/api/projects/$PROJECT/imports/"),
    ]
    assert concrete("/api/versions/$VERSION/diff/{other_id}/") == "/api/versions/1/diff/1/"


def test_every_api_route_and_method_has_a_curl_example(guide: str) -> None:
    documented = shown_endpoints(guide)
    required = {(name, method) for name, methods in api_routes().items() for method in methods}
    missing = sorted(required - documented)
    assert not missing, f"routes of api/urls.py without a curl example in {GUIDE.name}: {missing}"


def test_every_documented_call_is_a_real_route_with_that_method(guide: str) -> None:
    problems = []
    calls = shell_calls(guide) + heading_calls(guide)
    for call in calls:
        route = route_of(call)
        if route is None:
            problems.append(f"{call.method} {call.path}: no such route")
            continue
        name, methods = route
        if not call.refused and call.method not in methods:
            problems.append(f"{call.method} {call.path}: {name} allows only {sorted(methods)}")
        if call.refused and call.method in methods:
            problems.append(f"{call.method} {call.path}: marked `expect 405`, but {name} allows it")
    assert len(calls) > 80, "the guide should show a call for every endpoint"
    assert not problems, "\n".join(problems)


def test_every_heading_endpoint_has_its_own_example(guide: str) -> None:
    shown = shown_endpoints(guide)
    headed = heading_calls(guide)
    unshown = []
    for call in headed:
        route = route_of(call)
        if route is None or (route[0], call.method) not in shown:
            unshown.append(f"{call.method} {call.path}")
    assert headed and not unshown, f"headings without a curl example of that endpoint: {unshown}"


def test_every_curl_goes_through_finch(guide: str) -> None:
    literal_hosts = [
        line
        for language, body in FENCE.findall(guide)
        if language in {"bash", "sh", "shell"}
        for line in logical_lines(body)
        if CURL.search(line) and re.search(r"https?://", line)
    ]
    assert not literal_hosts, f"curl commands should use $FINCH, not a literal host: {literal_hosts}"

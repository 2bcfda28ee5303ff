"""Flag two examples as contradicting, compare them side by side, resolve flags."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from curation import selectors
from curation.errors import ApplicationError
from curation.forms import FlagForm
from curation.models import ContradictionJob, DedupMethod, Example, FlagKind, FlagResolution, FlagStatus, Role
from curation.provenance import flag_answers
from curation.search import search_bounded
from curation.services.contradictions import contradiction_job_create
from curation.services.flags import flag_create, flag_resolve
from curation.textdiff import side_by_side
from curation.views.common import (
    abilities,
    django_errors,
    example_for,
    flag_for,
    int_param,
    is_htmx,
    project_for,
    signed_in,
)

SEARCH_RESULTS = 20


@login_required
@django_errors
def flag_search(request: HttpRequest, example_id: int) -> HttpResponse:
    """Find the example that contradicts this one (text search; htmx refreshes the results)."""
    example = example_for(request, example_id)
    query = request.GET.get("q", "").strip() or example.input[:60]
    matches = selectors.example_list(project=example.project, filters={"q": query}).exclude(pk=example.pk)
    with search_bounded(query):
        found = list(matches[:SEARCH_RESULTS])
    context = {
        **abilities(request, example.project),
        "example": example,
        "q": query,
        "found": found,
    }
    template = "curation/_flag_results.html" if is_htmx(request) else "curation/flag_search.html"
    return render(request, template, context)


@login_required
@django_errors
def flag_compare(request: HttpRequest, example_id: int) -> HttpResponse:
    """Both examples side by side with their differences marked; raise the flag with a note."""
    example = example_for(request, example_id)
    other = example_for(
        request, int_param(request.GET.get("other") or request.POST.get("other"), "other") or 0
    )
    form = FlagForm(initial={"other": other.pk})
    if request.method == "POST":
        form = FlagForm(request.POST)
        if form.is_valid():
            try:
                flag = flag_create(
                    project=example.project,
                    user=signed_in(request),
                    kind=FlagKind.CONTRADICTION,
                    example_ids=[example.pk, other.pk],
                    note=form.cleaned_data["note"],
                )
                messages.success(request, f"Flag {flag.pk} raised: a reviewer will resolve it.")
                return redirect("flag", flag_id=flag.pk)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
    context = {**abilities(request, example.project), "form": form, **_pair(example, other)}
    return render(request, "curation/flag_compare.html", context)


@login_required
@django_errors
def flag_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id)
    status = request.GET.get("status", FlagStatus.OPEN)
    raised_by_job = request.GET.get("job", "")
    filters = {"status": status, "kind": request.GET.get("kind", ""), "job": raised_by_job}
    flags = selectors.flag_list(project=project, filters=filters)
    context = {
        **abilities(request, project),
        "flags": flags[:200],
        "raised_by_job": raised_by_job,
        "status": status,
        "statuses": FlagStatus.values,
        "jobs": selectors.job_list(ContradictionJob, project=project)[:5],
    }
    return render(request, "curation/flags.html", context)


@login_required
@require_POST
@django_errors
def find_contradictions(request: HttpRequest, project_id: int) -> HttpResponse:
    """Start a contradiction job (leads); its flags appear in the list as they are raised."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    method = request.POST.get("method", DedupMethod.MINHASH)
    try:
        threshold = float(request.POST.get("threshold") or 0.9)
        job = contradiction_job_create(
            project=project, user=signed_in(request), method=method, threshold=threshold
        )
        messages.success(request, f"Contradiction job {job.pk} started; the flags it raises show up here.")
    except ValueError:
        messages.error(request, "threshold must be a number.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("flags", project_id=project.pk)


@login_required
@django_errors
def flag_detail(request: HttpRequest, flag_id: int) -> HttpResponse:
    """A flag's examples side by side (a disagreement's answers with who gave each); reviewers
    resolve it here."""
    flag = flag_for(request, flag_id)
    examples = [
        member.example for member in flag.memberships.select_related("example__project").order_by("position")
    ]
    if request.method == "POST":
        flag = flag_for(request, flag_id, min_role=Role.REVIEWER)
        try:
            flag_resolve(
                flag=flag,
                user=signed_in(request),
                resolution=request.POST.get("resolution", ""),
                note=request.POST.get("note", ""),
                keep=int_param(request.POST.get("keep"), "keep"),
                output=request.POST.get("output"),  # "Edit and keep" only
            )
            messages.success(request, f"Flag {flag.pk} closed.")
            return redirect("flag", flag_id=flag.pk)
        except ApplicationError as exc:
            messages.error(request, exc.message)
    if flag.kind == FlagKind.DISAGREEMENT:
        pair: dict[str, object] = {
            "answers": flag_answers(examples),
            "first": examples[0] if examples else None,
        }
    elif len(examples) == 2:
        pair = _pair(examples[0], examples[1])
    else:
        pair = {"others": examples}
    context = {
        **abilities(request, flag.project),
        "flag": flag,
        "resolutions": FlagResolution.choices,
        **pair,
    }
    return render(request, "curation/flag.html", context)


def _pair(first: Example, second: Example) -> dict[str, object]:
    """Both examples with what differs between them marked, for _pair.html."""
    input_left, input_right = side_by_side(first.input, second.input)
    output_left, output_right = side_by_side(first.output, second.output)
    return {
        "first": first,
        "second": second,
        "sides": [
            {"title": "First", "example": first, "input": input_left, "output": output_left},
            {"title": "Second", "example": second, "input": input_right, "output": output_right},
        ],
    }

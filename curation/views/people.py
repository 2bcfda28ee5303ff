"""The members page of a project (leads): members with their roles, the picker that adds people
from the lead's other projects, invitations and password-reset links."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from curation.errors import ApplicationError
from curation.forms import MemberForm
from curation.models import Project, Role
from curation.people_forms import InvitationForm, UsernameForm
from curation.roles import has_role, role_of
from curation.selectors import invitation_get, invitation_list, members_list
from curation.services.content import refuse_nul
from curation.services.invitations import invitation_create, invitation_mail, invitation_revoke
from curation.services.passwords import password_reset_link
from curation.services.projects import addable_users, membership_remove, membership_set
from curation.views.common import abilities, django_errors, project_for, signed_in

PICKER_LIMIT = 10


def _page(request: HttpRequest, project: Project, **extra: Any) -> HttpResponse:
    context = {
        **abilities(request, project),
        "members": members_list(project=project),
        "invitations": invitation_list(project=project)[:100],
        "invitation_form": extra.pop("invitation_form", InvitationForm()),
        "roles": Role.choices,
        **extra,
    }
    return render(request, "curation/people.html", context)


@login_required
@django_errors
def people(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_for(request, project_id, min_role=Role.LEAD)
    return _page(request, project, **_new_link_shown(request, project))


def _new_link_key(project: Project) -> str:
    return f"finch.people.{project.pk}.new_link"


def _show_new_link(request: HttpRequest, project: Project, **shown: Any) -> HttpResponse:
    """Redirect-after-POST, so that a reload cannot make a second link. The link waits in the
    session (kept on the server, unlike a flashed message's cookie) for the next view of the
    members page, which takes it: it is shown once."""
    request.session[_new_link_key(project)] = shown
    return redirect("project-people", project_id=project.pk)


def _new_link_shown(request: HttpRequest, project: Project) -> dict[str, Any]:
    """The link made just before this view, if any (see _show_new_link), for the template."""
    shown: dict[str, Any] = request.session.pop(_new_link_key(project), {})
    if "invitation_id" in shown:
        shown["new_invitation"] = invitation_get(user=request.user, invitation_id=shown.pop("invitation_id"))
    return shown


@login_required
@require_GET
@django_errors
def people_search(request: HttpRequest, project_id: int) -> HttpResponse:
    """The picker's suggestions: people the lead may add (their other projects), not yet members."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    typed = request.GET.get("username", "").strip()[:150]
    refuse_nul(typed, "username")  # PostgreSQL cannot compare text with NUL in it
    found = addable_users(signed_in(request)).exclude(memberships__project=project)
    names = (
        list(
            found.filter(username__icontains=typed)
            .order_by("username")
            .values_list("username", flat=True)[:PICKER_LIMIT]
        )
        if typed
        else []
    )
    return render(request, "curation/_people_options.html", {"names": names})


@login_required
@require_POST
@django_errors
def member_change(request: HttpRequest, project_id: int) -> HttpResponse:
    """Add a member, change a role, or remove a member (the `remove` button)."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    form = MemberForm(request.POST) if "remove" not in request.POST else UsernameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a username and a role.")
        return redirect("project-people", project_id=project.pk)
    username = form.cleaned_data["username"]
    try:
        if "remove" in request.POST:
            membership_remove(project=project, user=signed_in(request), username=username)
            messages.success(request, f"{username} was removed.")
        else:
            role = form.cleaned_data["role"]
            membership_set(project=project, user=signed_in(request), username=username, role=role)
            messages.success(request, f"{username} is now {Role(role).label.lower()}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _after_member_change(request, project)


def _after_member_change(request: HttpRequest, project: Project) -> HttpResponse:
    """Back to the members page, unless the lead just removed or demoted themselves."""
    role = role_of(request.user, project)
    if role is None:
        return redirect("home")
    if not has_role(role, Role.LEAD):
        return redirect("project-dashboard", project_id=project.pk)
    return redirect("project-people", project_id=project.pk)


@login_required
@require_POST
@django_errors
def invitation_new(request: HttpRequest, project_id: int) -> HttpResponse:
    """Make an invitation link; the page shows it once (only its hash is kept)."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return _page(request, project, invitation_form=form)
    invitation, token = invitation_create(project=project, user=signed_in(request), **form.cleaned_data)
    link = request.build_absolute_uri(reverse("invitation", args=[token]))
    mailed = invitation_mail(invitation=invitation, link=link)
    return _show_new_link(request, project, new_link=link, invitation_id=invitation.pk, mailed=mailed)


@login_required
@require_POST
@django_errors
def invitation_cancel(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = invitation_get(user=request.user, invitation_id=invitation_id)
    try:
        invitation_revoke(invitation=invitation, user=signed_in(request))
        messages.success(request, "The invitation was revoked; its link no longer works.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("project-people", project_id=invitation.project_id)


@login_required
@require_POST
@django_errors
def reset_link_new(request: HttpRequest, project_id: int) -> HttpResponse:
    """Issue a password-reset link for a member, shown to copy."""
    project = project_for(request, project_id, min_role=Role.LEAD)
    form = UsernameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a username.")
        return redirect("project-people", project_id=project.pk)
    username = form.cleaned_data["username"]
    try:
        uid, token = password_reset_link(project=project, user=signed_in(request), username=username)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("project-people", project_id=project.pk)
    link = request.build_absolute_uri(reverse("password-reset", args=[uid, token]))
    return _show_new_link(request, project, reset_link=link, reset_for=username)

"""Pages about one's account: joining through an invitation (sign up or sign in), changing one's
password, and setting a new one from a reset link. The POSTs that check a password or a token
count against the sign-in rate (config/login.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from config.login import attempts_limited
from curation.errors import ApplicationError
from curation.models import Invitation, Membership
from curation.people_forms import SignUpForm
from curation.services.invitations import invitation_accept, invitation_for_token, invitation_sign_up
from curation.views.common import signed_in


@attempts_limited
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Open an invitation: sign up or sign in (or, signed in, accept), then join its project."""
    try:
        invited = invitation_for_token(token)
    except ApplicationError as exc:
        return render(request, "curation/invitation.html", {"invalid": exc.message}, status=404)
    signup, signin = SignUpForm(prefix="new"), AuthenticationForm(request, prefix="old")
    action = request.POST.get("action") if request.method == "POST" else None
    if request.user.is_authenticated:  # signed in: accepting only, no second account
        if action == "accept":
            return _joined(request, lambda: invitation_accept(token=token, user=signed_in(request)))
    elif action == "signup":
        signup = SignUpForm(request.POST, prefix="new")
        if signup.is_valid():
            return _signed_up(request, token, signup)
    elif action == "signin":
        signin = AuthenticationForm(request, data=request.POST, prefix="old")
        if signin.is_valid():
            login(request, signin.get_user())
            return _joined(request, lambda: invitation_accept(token=token, user=signin.get_user()))
    return _invitation_page(request, invited, signup, signin)


def _invitation_page(
    request: HttpRequest,
    invited: Invitation,
    signup: SignUpForm,
    signin: AuthenticationForm,
    status: int = 200,
) -> HttpResponse:
    _focus_the_error(signup, signin)
    context = {"invited": invited, "signup": signup, "signin": signin}
    return render(request, "curation/invitation.html", context, status=status)


def _focus_the_error(signup: SignUpForm, signin: AuthenticationForm) -> None:
    """Put the cursor in the first field with an error, else nowhere: Django autofocuses the
    sign-in username, which would pull the cursor past the sign-up form that comes first."""
    signin.fields["username"].widget.attrs.pop("autofocus", None)
    for form in (signup, signin):
        if form.errors:
            field = next((name for name in form.errors if name in form.fields), "username")
            form.fields[field].widget.attrs["autofocus"] = True
            return


def _signed_up(request: HttpRequest, token: str, form: SignUpForm) -> HttpResponse:
    def join() -> Membership:
        user, membership = invitation_sign_up(
            token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return membership

    try:
        membership = join()
    except ApplicationError as exc:
        if exc.field == "token":
            return render(request, "curation/invitation.html", {"invalid": exc.message}, status=404)
        form.add_error("password1" if exc.field == "password" else "username", exc.message)
        signin = AuthenticationForm(request, prefix="old")
        return _invitation_page(request, invitation_for_token(token), form, signin, status=400)
    return _welcome(request, membership)


def _joined(request: HttpRequest, accept: Callable[[], Membership]) -> HttpResponse:
    try:
        membership = accept()
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("home")
    return _welcome(request, membership)


def _welcome(request: HttpRequest, membership: Membership) -> HttpResponse:
    messages.success(request, f"Welcome: you joined {membership.project.name} as {membership.role}.")
    return redirect("project-dashboard", project_id=membership.project_id)


class PasswordChange(auth_views.PasswordChangeView):
    """Change one's password; Django keeps the session signed in (update_session_auth_hash)."""

    form_class = PasswordChangeForm
    template_name = "registration/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


class PasswordReset(auth_views.PasswordResetConfirmView):
    """Set a new password from a reset link; the link stops working once the password changes."""

    form_class = SetPasswordForm
    template_name = "registration/password_reset.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        messages.success(self.request, "Your password was set; sign in with it.")
        return super().form_valid(form)


password_change = PasswordChange.as_view()
password_reset = attempts_limited(PasswordReset.as_view())

"""Forms of the people pages: invitations, adding members, reset links, signing up."""

from __future__ import annotations

from django import forms

from curation.models import Role


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)
    email = forms.EmailField(required=False, help_text="Optional: mailed there when a mail server is set.")


class UsernameForm(forms.Form):
    username = forms.CharField(max_length=150)


class SignUpForm(forms.Form):
    """Sign-up through an invitation; the service checks the name and runs the password validators."""

    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, str]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data

"""Forms of the settings pages."""

from django import forms

from tandem.users.models import Role


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Which integration uses it, e.g. 'Website' or 'Data warehouse'.")
    is_write_key = forms.BooleanField(required=False, label="Public write key (can only send events)")
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=100_000, initial=600, label="Requests per minute")
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For a write key: the websites that may send events, e.g. https://www.example.com, one a line.",
    )


class UserForm(forms.Form):
    email = forms.EmailField()
    full_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=Role.choices)
    team = forms.CharField(max_length=100, required=False, help_text="Created if it does not exist.")
    password = forms.CharField(
        widget=forms.PasswordInput, required=False, help_text="Leave empty to let them set one with 'Forgot password'."
    )

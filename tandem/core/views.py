"""Home, settings and error pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from tandem.core import selectors
from tandem.core.forms import TokenForm, UserForm
from tandem.engagement.selectors import snippet_html
from tandem.integrations import services as token_services
from tandem.integrations.models import ApiToken
from tandem.lib.record_forms import add_service_errors
from tandem.users import services as user_services
from tandem.users.models import ROLE_SIDES, Role, Team, User
from tandem.users.permissions import can_manage_tokens, can_manage_users


@login_required
@require_GET
def home(request):
    return render(
        request,
        "core/home.html",
        {
            "stage_counts": selectors.stage_counts(),
            "recent": selectors.recent_stage_changes(),
            "mqls_30d": selectors.entries_last_days("mql"),
            "customers_30d": selectors.entries_last_days("customer"),
            "pipeline": selectors.open_pipeline(),
        },
    )


@login_required
@require_GET
def settings_home(request):
    return render(
        request,
        "core/settings.html",
        {
            "can_manage_users": can_manage_users(request.user),
            "can_manage_tokens": can_manage_tokens(request.user),
            "teams": Team.objects.select_related("manager").prefetch_related("members"),
        },
    )


@login_required
def token_list(request):
    if not can_manage_tokens(request.user):
        raise PermissionDenied("Only RevOps manages API tokens.")
    form = TokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = token_services.token_create(
                by=request.user,
                user=request.user,
                name=form.cleaned_data["name"],
                is_write_key=form.cleaned_data["is_write_key"],
                rate_limit_per_minute=form.cleaned_data["rate_limit_per_minute"],
                allowed_origins=form.cleaned_data["allowed_origins"].splitlines(),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            form = TokenForm()
    return render(
        request,
        "core/tokens.html",
        {
            "form": form,
            "issued": issued,
            "snippet": snippet_html(key=issued.secret, base_url=request.build_absolute_uri("/"))
            if issued and issued.token.is_write_key
            else "",
            "tokens": ApiToken.objects.select_related("user"),
        },
    )


@login_required
@require_POST
def token_revoke(request, token_id: int):
    if not can_manage_tokens(request.user):
        raise PermissionDenied("Only RevOps manages API tokens.")
    token = get_object_or_404(ApiToken, pk=token_id)
    token_services.token_revoke(by=request.user, token=token)
    messages.success(request, f"Token {token.name} was revoked; requests with it are now refused.")
    return redirect("token-list")


@login_required
def user_list(request):
    if not can_manage_users(request.user):
        raise PermissionDenied("Only RevOps manages users.")
    form = UserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            team = None
            if data["team"]:
                side = ROLE_SIDES[Role(data["role"])]
                team = user_services.team_get_or_create(by=request.user, name=data["team"], side=side)
            user = user_services.user_create(
                by=request.user,
                email=data["email"],
                role=data["role"],
                full_name=data["full_name"],
                password=data["password"] or None,
                team=team,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{user.email} can now sign in.")
            return redirect("user-list")
    return render(
        request,
        "core/users.html",
        {
            "form": form,
            "users": User.objects.select_related("team").order_by("role", "full_name"),
        },
    )


def page_not_found(request, exception=None):
    return render(request, "404.html", {}, status=404)


def permission_denied(request, exception=None):
    return render(request, "403.html", {"reason": str(exception) if exception else ""}, status=403)

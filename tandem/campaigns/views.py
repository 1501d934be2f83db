"""Campaign pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tandem.audit.selectors import audit_entries_for
from tandem.campaigns import selectors, services
from tandem.campaigns.forms import CAMPAIGN_FORM_FIELDS, CampaignForm
from tandem.campaigns.models import Campaign, Channel
from tandem.campaigns.permissions import can_edit_campaign
from tandem.lib.record_forms import add_service_errors, changed_values, initial_for


@login_required
@require_GET
def campaign_list(request):
    query = selectors.campaign_list(search=request.GET.get("q", "")[:100], channel=request.GET.get("channel", ""))
    page = Paginator(query, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "campaigns/campaign_list.html",
        {
            "page": page,
            "channels": Channel.choices,
            "q": request.GET.get("q", ""),
            "channel": request.GET.get("channel", ""),
            "can_create": can_edit_campaign(request.user),
        },
    )


@login_required
def campaign_create(request):
    if not can_edit_campaign(request.user):
        raise PermissionDenied("Campaigns are created by marketing and RevOps.")
    form = CampaignForm(request.POST or None, initial={"owner": request.user.pk})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            campaign = services.campaign_create(by=request.user, **data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{campaign} was created.")
            return redirect("campaigns:campaign-detail", campaign_id=campaign.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": "New campaign",
            "cancel_url": reverse("campaigns:campaign-list"),
            "submit_label": "Create campaign",
        },
    )


@login_required
@require_GET
def campaign_detail(request, campaign_id: int):
    campaign = Campaign.objects.select_related("owner").filter(pk=campaign_id).first()
    if campaign is None:
        return render(request, "404.html", {"what": f"Campaign {campaign_id}"}, status=404)
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "members": selectors.campaign_members(campaign),
            "member_count": campaign.members.count(),
            "audit": audit_entries_for(campaign, limit=50),
            "can_edit": can_edit_campaign(request.user, campaign),
        },
    )


@login_required
def campaign_edit(request, campaign_id: int):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not can_edit_campaign(request.user, campaign):
        raise PermissionDenied("You may not edit this campaign.")
    form = CampaignForm(request.POST or None, initial=initial_for(campaign, CAMPAIGN_FORM_FIELDS))
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_update(by=request.user, campaign=campaign, changes=changed_values(form))
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Changes saved.")
            return redirect("campaigns:campaign-detail", campaign_id=campaign.pk)
    return render(
        request,
        "record_form.html",
        {
            "form": form,
            "heading": f"Edit {campaign}",
            "cancel_url": reverse("campaigns:campaign-detail", args=[campaign.pk]),
        },
    )


@login_required
@require_POST
def campaign_delete(request, campaign_id: int):
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not can_edit_campaign(request.user, campaign):
        raise PermissionDenied("You may not delete this campaign.")
    services.campaign_delete(by=request.user, campaign=campaign)
    messages.success(request, f"{campaign} was deleted.")
    return redirect("campaigns:campaign-list")

"""The ledger download of one person (the panel itself renders inside the person's record page)."""

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tandem.crm.models import Person
from tandem.scoring import permissions, services


@login_required
@require_GET
def person_ledger_csv(request, person_id: int):
    if not permissions.can_export_ledger(request.user):
        raise PermissionDenied("Your account cannot export.")
    if not Person.objects.filter(pk=person_id).exists():
        return render(request, "404.html", {"what": f"Person {person_id}"}, status=404)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    services.score_ledger_export(by=request.user, person_id=person_id, out=response)
    filename = f"score-ledger-person-{person_id}-{dt.date.today().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response

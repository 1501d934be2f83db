"""Pages of the revenue contract: the document in force, drafts with live checking, proposals, history."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tandem.contract import permissions, selectors, services
from tandem.contract.backtest import contract_backtest, month_bars
from tandem.contract.document import MAX_SOURCE_CHARS, ContractInvalid, parse_source
from tandem.contract.models import ContractVersion, VersionStatus

MAX_UPLOAD_BYTES = MAX_SOURCE_CHARS * 4


def _version_or_404(number: int) -> ContractVersion:
    try:
        return selectors.version_get(number)
    except ContractVersion.DoesNotExist:
        raise Http404(f"There is no version {number} of the contract.") from None


def _report(request, error: ContractInvalid) -> None:
    for problem in error.problems[:10]:
        messages.error(request, str(problem))


@login_required
@require_GET
def contract_detail(request):
    """The contract in force, readable as a document."""
    version = selectors.active_version()
    return render(
        request,
        "contract/contract_detail.html",
        {
            "version": version,
            "document": version.document,
            "glossary": selectors.glossary(version),
            "proposals": selectors.open_proposals(),
            "drafts": selectors.version_list().filter(status=VersionStatus.DRAFT),
            "can_draft": permissions.can_draft_contract(request.user),
        },
    )


@login_required
@require_GET
def version_history(request):
    versions = selectors.version_list()
    return render(
        request, "contract/version_history.html", {"versions": versions, "active": selectors.active_version()}
    )


@login_required
@require_GET
def version_detail(request, number: int):
    """A draft opens in the editor; a proposal shows its diff and decisions; any other version reads as a document."""
    version = _version_or_404(number)
    active = selectors.active_version()
    baseline = active if version.pk != active.pk else version.based_on
    context = {
        "version": version,
        "active": active,
        "document": version.document,
        "glossary": selectors.glossary(version),
        "baseline": baseline,
        "diff": selectors.version_diff(baseline, version) if baseline is not None else None,
        "can_edit": permissions.can_edit_draft(request.user, version),
        "can_draft": permissions.can_draft_contract(request.user),
        "decision_refusal": permissions.decision_refusal(request.user, version),
        "can_withdraw": permissions.can_withdraw(request.user, version),
        "max_source_chars": MAX_SOURCE_CHARS,
    }
    return render(request, "contract/version_detail.html", context)


@login_required
@require_POST
def draft_create(request):
    version = services.contract_draft_create(by=request.user)
    messages.success(request, f"Draft v{version.number} started from the contract in force.")
    return redirect("contract:version-detail", number=version.number)


@login_required
@require_POST
def draft_import(request):
    """Start a draft from an uploaded YAML file."""
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a YAML file to import.")
        return redirect("contract:detail")
    if upload.size > MAX_UPLOAD_BYTES:
        messages.error(
            request, f"{upload.name} is {upload.size:,} bytes; a contract file is at most {MAX_UPLOAD_BYTES:,}."
        )
        return redirect("contract:detail")
    try:
        source = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        messages.error(request, f"{upload.name} is not UTF-8 text; save the YAML file as UTF-8 and import it again.")
        return redirect("contract:detail")
    version = services.contract_draft_create(by=request.user, source=source, summary=f"Imported from {upload.name}")
    if version.problems:
        messages.warning(
            request, f"Draft v{version.number} has {len(version.problems)} problems to fix before it can be proposed."
        )
    else:
        messages.success(request, f"Draft v{version.number} imported from {upload.name}.")
    return redirect("contract:version-detail", number=version.number)


@login_required
@require_POST
def draft_save(request, number: int):
    version = _version_or_404(number)
    source = request.POST.get("source", "")
    summary = request.POST.get("summary", "")
    try:
        version = services.contract_draft_update(by=request.user, version=version, source=source, summary=summary)
    except ContractInvalid as error:
        _report(request, error)
        return redirect("contract:version-detail", number=number)
    if request.POST.get("then") == "propose":
        try:
            services.contract_propose(by=request.user, version=version)
        except ContractInvalid as error:
            messages.error(request, "The draft is saved but cannot be proposed yet:")
            _report(request, error)
            return redirect("contract:version-detail", number=number)
        messages.success(request, f"v{number} is proposed: a marketing lead and a sales lead now decide on it.")
    elif version.problems:
        messages.warning(request, f"Draft v{number} saved with {len(version.problems)} problems.")
    else:
        messages.success(request, f"Draft v{number} saved.")
    return redirect("contract:version-detail", number=number)


@login_required
@require_POST
def draft_check(request):
    """Validation as you type: the editor posts its text here and shows the problems."""
    source = request.POST.get("source", "")
    _, problems = parse_source(source)
    return render(request, "contract/_problems.html", {"problems": [problem.as_dict() for problem in problems]})


@login_required
@require_POST
def version_decide(request, number: int):
    version = _version_or_404(number)
    decision = request.POST.get("decision", "")
    try:
        version = services.contract_decide(
            by=request.user, version=version, decision=decision, note=request.POST.get("note", "")
        )
    except ContractInvalid as error:
        _report(request, error)
        return redirect("contract:version-detail", number=number)
    if version.status == VersionStatus.PUBLISHED:
        messages.success(request, f"Approved: v{number} is now the contract in force.")
    elif version.status == VersionStatus.REJECTED:
        messages.success(request, f"v{number} is rejected.")
    else:
        messages.success(request, f"Approved for your side; v{number} waits for the other side's lead.")
    return redirect("contract:version-detail", number=number)


@login_required
@require_POST
def version_withdraw(request, number: int):
    services.contract_withdraw(by=request.user, version=_version_or_404(number))
    messages.success(request, f"Proposal v{number} withdrawn.")
    return redirect("contract:version-detail", number=number)


@login_required
@require_POST
def version_restore(request, number: int):
    try:
        version = services.contract_restore(by=request.user, version=_version_or_404(number))
    except ContractInvalid as error:
        messages.error(request, f"v{number} cannot be restored as it is:")
        _report(request, error)
        return redirect("contract:version-detail", number=number)
    if version.status == VersionStatus.PROPOSED:
        messages.success(
            request, f"v{version.number} proposes the text of v{number}; it is in force once both leads approve."
        )
    else:
        messages.warning(request, f"Draft v{version.number} holds the text of v{number} but needs fixes first.")
    return redirect("contract:version-detail", number=version.number)


@login_required
@require_GET
def version_yaml(request, number: int):
    version = _version_or_404(number)
    response = HttpResponse(version.source, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="tandem-contract-v{version.number}.yaml"'
    return response


@login_required
@require_GET
def version_compare(request):
    """Any two versions side by side."""
    try:
        old = int(request.GET.get("from", ""))
        new = int(request.GET.get("to", ""))
    except ValueError:
        messages.error(request, "Choose two versions to compare.")
        return redirect("contract:history")
    diff = selectors.version_diff(_version_or_404(old), _version_or_404(new))
    return render(request, "contract/version_compare.html", {"diff": diff, "versions": selectors.version_list()})


@login_required
@require_GET
def version_backtest(request, number: int):
    """The what-if panel of a proposal: the last months replayed under the version in force and this one."""
    version = _version_or_404(number)
    active = selectors.active_version()
    try:
        months = int(request.GET.get("months", "12"))
    except ValueError:
        months = 12
    try:
        result = contract_backtest(proposed=version, current=active, months=months)
    except ValueError as error:
        return render(request, "contract/_backtest.html", {"error": str(error), "version": version})
    return render(
        request,
        "contract/_backtest.html",
        {"backtest": result, "chart": month_bars(result), "version": version, "active": active},
    )

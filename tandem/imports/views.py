"""The import wizard (upload → map columns → preview → run → result) and the list of past imports."""

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from tandem.imports import permissions, selectors
from tandem.imports.choices import load_choice_lists
from tandem.imports.fields import FIELDS_BY_NAME
from tandem.imports.forms import KIND_LABELS, MappingForm, UploadForm, max_upload_bytes, too_large_message
from tandem.imports.mapping import Mapping, MappingError
from tandem.imports.models import ImportRun, ImportStatus
from tandem.imports.reading import UnreadableFileError
from tandem.imports.services import (
    compile_plan,
    import_preview,
    import_run_cancel,
    import_run_create,
    import_run_start,
    saved_mapping_save,
)
from tandem.imports.uploads import (
    UploadTooLargeError,
    upload_discard,
    upload_get,
    upload_save,
    upload_store,
)

STEPS = ["Upload", "Map columns", "Preview", "Run", "Result"]
REJECT = "__reject__"
BLANK = "__blank__"


def _require_importer(user, kind: str | None = None) -> None:
    if not permissions.can_import(user, kind):
        raise PermissionDenied(
            f"You may not import {kind}." if kind else "Imports are for RevOps and the marketing and sales managers."
        )


def _upload_or_404(request, token: str):
    upload = upload_get(token, user=request.user)
    if upload is None:
        raise Http404("No such upload.")
    _require_importer(request.user, upload.kind)
    return upload


def _wizard_context(step: int, **context) -> dict:
    return {"steps": STEPS, "step": step, **context}


# ---------------------------------------------------------------- past imports


@login_required
@require_GET
def import_list(request):
    _require_importer(request.user)
    page = selectors.import_run_list(cursor=request.GET.get("cursor") or None)
    return render(
        request,
        "imports/run_list.html",
        {"page": page, "query": "", "kind_labels": KIND_LABELS, "can_start": True},
    )


# ---------------------------------------------------------------- step 1: upload


def _content_too_large(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    # The form's other fields and the multipart framing take a few kilobytes beside the file.
    return length > max_upload_bytes() + 64 * 1024


@login_required
def import_new(request):
    kinds = permissions.importable_kinds(request.user)
    if not kinds:
        _require_importer(request.user)
    if request.method == "POST" and _content_too_large(request):
        context = _wizard_context(1, form=UploadForm(kinds=kinds), refusal=too_large_message())
        return render(request, "imports/new.html", context, status=413)
    form = UploadForm(
        request.POST or None, request.FILES or None, kinds=kinds, initial={"kind": request.GET.get("kind")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _require_importer(request.user, data["kind"])
        try:
            upload = upload_store(
                user=request.user,
                kind=data["kind"],
                uploaded_file=data["file"],
                mapping=data["mapping_data"],
                mapping_source=data["mapping_source"],
                max_bytes=max_upload_bytes(),
            )
        except UploadTooLargeError:
            form.add_error("file", too_large_message())
        else:
            try:
                selectors.upload_columns(path=upload.path, mapping=Mapping.from_dict(upload.mapping))
            except UnreadableFileError as error:
                upload_discard(upload)
                form.add_error("file", f"{data['file'].name}: {error} Nothing was imported.")
            else:
                return redirect("imports:mapping", token=upload.token)
    return render(request, "imports/new.html", _wizard_context(1, form=form))


# ---------------------------------------------------------------- step 2: map columns


@login_required
def import_mapping(request, token: str):
    upload = _upload_or_404(request, token)
    if upload.run_id:
        return redirect("imports:detail", run_id=upload.run_id)
    mapping = Mapping.from_dict(upload.mapping)
    try:
        description, columns, problem = selectors.upload_columns(
            path=upload.path, mapping=mapping, encoding=upload.encoding, delimiter=upload.delimiter, sheet=upload.sheet
        )
    except (UnreadableFileError, MappingError) as error:
        messages.error(request, f"{upload.original_filename}: {error}")
        return redirect("imports:new")
    initial = {
        "date_order": mapping.date_order,
        "number_style": mapping.number_style,
        "time_zone": mapping.time_zone,
        "create_accounts": mapping.create_accounts,
        "allow_backward": mapping.allow_backward,
    }
    form = MappingForm(
        request.POST or None,
        initial=initial,
        columns=columns,
        field_options=selectors.field_options(upload.kind),
    )
    if request.method == "POST" and form.is_valid():
        try:
            chosen = form.mapping(upload.mapping)
            # Compiled here so that a mapping that cannot read this file is refused on this page.
            compile_plan(chosen, _source(upload))
        except (MappingError, UnreadableFileError) as error:
            form.add_error(None, str(error))
        else:
            upload.mapping = chosen.as_dict()
            upload_save(upload)
            name = form.cleaned_data.get("save_as", "").strip()
            if name:
                saved = saved_mapping_save(by=request.user, name=name, mapping=chosen)
                messages.success(request, f"The mapping was saved as '{saved.name}' for {saved.kind}.")
            return redirect("imports:preview", token=upload.token)
    return render(
        request,
        "imports/mapping.html",
        _wizard_context(
            2,
            upload=upload,
            form=form,
            description=description,
            problem=problem,
            kind_label=KIND_LABELS[upload.kind],
            mapping=mapping,
        ),
    )


def _source(upload):
    from tandem.imports.reading import open_source

    return open_source(
        upload.path, encoding=upload.encoding or None, delimiter=upload.delimiter or None, sheet=upload.sheet or None
    )


# ---------------------------------------------------------------- step 3: preview, then run


def _unsaved_run(upload) -> ImportRun:
    """The run the preview reads as: nothing is written until Run is pressed."""
    return ImportRun(
        kind=upload.kind,
        file_path=str(upload.path),
        original_filename=upload.original_filename,
        encoding=upload.encoding,
        delimiter=upload.delimiter,
        sheet=upload.sheet,
        mapping=upload.mapping,
    )


def _value_map_groups(upload, preview) -> list[dict]:
    """The preview's value maps, each with the field it fills and the values that field takes."""
    fields_by_header = {column["header"]: column["field"] for column in preview.columns}
    groups = []
    for index, value_map in enumerate(preview.value_maps):
        field_name = fields_by_header.get(value_map["column"], "")
        options = selectors.choice_options(upload.kind, field_name)
        explicit = upload.mapping.get("values", {}).get(field_name, {})
        entries = []
        for number, entry in enumerate(value_map["entries"]):
            if entry["is_explicit"] and explicit.get(entry["value"]) == "":
                chosen = BLANK
            else:
                chosen = entry["maps_to"] or REJECT
            entries.append({**entry, "number": number, "chosen": chosen})
        groups.append({**value_map, "index": index, "field_name": field_name, "options": options, "entries": entries})
    return groups


def _apply_value_choices(request, upload) -> int:
    """Write the value map choices posted from the preview into the upload's mapping; the number changed."""
    values = {key: dict(table) for key, table in upload.mapping.get("values", {}).items()}
    choices = load_choice_lists()
    changed = 0
    for group in range(int(request.POST.get("value_map_count", "0") or 0)):
        field_name = request.POST.get(f"vm-{group}-field", "")
        definition = FIELDS_BY_NAME[upload.kind].get(field_name)
        if definition is None or definition.type != "choice":
            continue
        choice_list = choices[definition.choices]
        allowed = {key for key, _ in choice_list.options}
        table = values.setdefault(field_name, {})
        for number in range(int(request.POST.get(f"vm-{group}-count", "0") or 0)):
            text = request.POST.get(f"vm-{group}-{number}-value", "")
            chosen = request.POST.get(f"vm-{group}-{number}", "")
            if not text or not chosen:
                continue
            automatic = choice_list.mapped_key(text)
            if chosen in (REJECT, automatic):
                new = None
            elif chosen == BLANK:
                new = ""
            elif chosen in allowed:
                new = chosen
            else:
                raise MappingError(f"values.{field_name}: '{chosen}' is not a {choice_list.name}")
            if table.get(text) != new:
                changed += 1
                if new is None:
                    table.pop(text, None)
                else:
                    table[text] = new
        if not table:
            values.pop(field_name)
    upload.mapping = Mapping.from_dict({**upload.mapping, "values": values}).as_dict()
    return changed


@login_required
def import_preview_page(request, token: str):
    upload = _upload_or_404(request, token)
    if upload.run_id:
        return redirect("imports:detail", run_id=upload.run_id)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "values":
                changed = _apply_value_choices(request, upload)
                upload_save(upload)
                messages.success(request, f"{changed} value mapping{'s' if changed != 1 else ''} changed.")
                return redirect("imports:preview", token=upload.token)
            if action == "save_mapping":
                saved = saved_mapping_save(
                    by=request.user, name=request.POST.get("name", ""), mapping=Mapping.from_dict(upload.mapping)
                )
                messages.success(request, f"The mapping was saved as '{saved.name}' for {saved.kind}.")
                return redirect("imports:preview", token=upload.token)
            if action == "run":
                run = import_run_create(
                    by=request.user,
                    kind=upload.kind,
                    path=upload.path,
                    original_filename=upload.original_filename,
                    mapping=Mapping.from_dict(upload.mapping),
                    encoding=upload.encoding,
                    delimiter=upload.delimiter,
                    sheet=upload.sheet,
                )
                upload.run_id = run.pk
                upload_save(upload)
                import_run_start(run=run, by=request.user)
                return redirect("imports:detail", run_id=run.pk)
        except (MappingError, UnreadableFileError) as error:
            messages.error(request, f"Nothing was imported: {error}")
    try:
        preview = import_preview(run=_unsaved_run(upload))
    except (MappingError, UnreadableFileError) as error:
        messages.error(request, f"{upload.original_filename}: {error}")
        return redirect("imports:mapping", token=upload.token)
    problem_rows = [row for row in preview.rows if row["errors"]]
    return render(
        request,
        "imports/preview.html",
        _wizard_context(
            3,
            upload=upload,
            preview=preview,
            problem_rows=problem_rows,
            value_map_groups=_value_map_groups(upload, preview),
            kind_label=KIND_LABELS[upload.kind],
            reject=REJECT,
            blank=BLANK,
        ),
    )


# ---------------------------------------------------------------- steps 4 and 5: progress and result


def _run_or_404(request, run_id: int) -> ImportRun:
    run = get_object_or_404(ImportRun.objects.select_related("created_by"), pk=run_id)
    if not permissions.can_view_import(request.user, run):
        raise PermissionDenied("Imports are for RevOps and the marketing and sales managers.")
    return run


def _status_context(request, run: ImportRun) -> dict:
    return {
        "run": run,
        "progress": selectors.run_progress(run),
        "can_cancel": run.is_active and permissions.can_cancel_import(request.user, run),
        "kind_label": KIND_LABELS.get(run.kind, run.kind),
    }


@login_required
@require_GET
def import_detail(request, run_id: int):
    run = _run_or_404(request, run_id)
    step = 5 if run.status in (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED) else 4
    return render(request, "imports/run_detail.html", _wizard_context(step, **_status_context(request, run)))


@login_required
@require_GET
def import_status(request, run_id: int):
    """The progress panel alone, which the page polls while the run is under way."""
    run = _run_or_404(request, run_id)
    return render(request, "imports/_run_status.html", _status_context(request, run))


@login_required
@require_POST
def import_cancel(request, run_id: int):
    run = _run_or_404(request, run_id)
    if not permissions.can_cancel_import(request.user, run):
        raise PermissionDenied("Only the person who started this import, or RevOps, may stop it.")
    if run.is_active:
        run = import_run_cancel(run=run, by=request.user)
        messages.success(request, f"Import #{run.pk} is {run.get_status_display().lower()}.")
    if request.htmx:
        return render(request, "imports/_run_status.html", _status_context(request, run))
    return redirect("imports:detail", run_id=run.pk)


@login_required
@require_GET
def import_errors(request, run_id: int):
    """The error report: each rejected row's line, what was wrong, and its original cells."""
    run = _run_or_404(request, run_id)
    path = Path(run.error_file) if run.error_file else None
    if not run.rejected_count or path is None or not path.is_file():
        raise Http404("This import rejected no rows.")
    name = f"{Path(run.original_filename).stem or 'import'}-{run.pk}-errors.csv"
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="text/csv; charset=utf-8")

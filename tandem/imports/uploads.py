"""Files uploaded to the import wizard, kept with the choices made about them until they are imported.

Each upload lives in its own folder under the data directory, named by a random token: the file
itself and `upload.json` (kind, original name, who uploaded it, the mapping chosen so far). The
import run that is created when the user presses Run reads the file from there, so the folder
stays as long as the run's record does.
"""

import datetime as dt
import json
import logging
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from tandem.imports.services import data_dir

logger = logging.getLogger(__name__)

TOKEN_BYTES = 16
CHUNK_BYTES = 1 << 20


class UploadTooLargeError(Exception):
    """The file is larger than this server accepts for an import."""


@dataclass
class Upload:
    """One uploaded file and what the wizard knows about it."""

    token: str
    kind: str
    original_filename: str
    user_id: int
    mapping: dict
    uploaded_at: str
    mapping_source: str = "auto"
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    run_id: int | None = None
    notes: dict = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return uploads_dir() / self.token

    @property
    def path(self) -> Path:
        suffix = Path(self.original_filename).suffix.lower()
        return self.folder / f"source{suffix if suffix in ('.csv', '.xlsx', '.txt', '.tsv') else ''}"


def uploads_dir() -> Path:
    path = data_dir() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_token(token: str) -> bool:
    return len(token) == TOKEN_BYTES * 2 and all(character in "0123456789abcdef" for character in token)


def upload_store(*, user, kind: str, uploaded_file, mapping: dict, mapping_source: str, max_bytes: int) -> Upload:
    """Keep an uploaded file on disk; raises UploadTooLargeError (and keeps nothing) past `max_bytes`."""
    upload = Upload(
        token=secrets.token_hex(TOKEN_BYTES),
        kind=kind,
        original_filename=Path(uploaded_file.name or "upload.csv").name[:255],
        user_id=user.pk,
        mapping=mapping,
        mapping_source=mapping_source,
        uploaded_at=timezone.now().isoformat(),
    )
    upload.folder.mkdir(parents=True)
    written = 0
    with upload.path.open("wb") as handle:
        for chunk in uploaded_file.chunks(CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                handle.close()
                upload_discard(upload)
                raise UploadTooLargeError
            handle.write(chunk)
    upload_save(upload)
    return upload


def upload_save(upload: Upload) -> None:
    (upload.folder / "upload.json").write_text(json.dumps(asdict(upload), indent=2), encoding="utf-8")


def upload_get(token: str, *, user) -> Upload | None:
    """The upload under this token if this user made it; None for anyone else or an unknown token."""
    if not _is_token(token):
        return None
    try:
        data = json.loads((uploads_dir() / token / "upload.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    upload = Upload(**data)
    return upload if upload.user_id == user.pk else None


def upload_discard(upload: Upload) -> None:
    """Remove an upload that will not be imported (a refused file)."""
    shutil.rmtree(upload.folder, ignore_errors=True)


def _uploaded_at(folder: Path) -> tuple[dict | None, float]:
    """The upload's record (None when unreadable) and the time it was made, as a timestamp."""
    try:
        data = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
        return data, dt.datetime.fromisoformat(data["uploaded_at"]).timestamp()
    except (OSError, ValueError, KeyError, TypeError):
        return None, folder.stat().st_mtime


def uploads_clean(*, now: dt.datetime | None = None) -> dict:
    """Discard wizard uploads that were never run within IMPORT_ABANDONED_HOURS, and the stored files of
    imports that finished more than IMPORT_SOURCE_RETENTION_DAYS ago; import records and error reports stay.

    Idempotent; audited once per clean-up that removed anything.
    """
    from tandem.audit.actors import Actor
    from tandem.audit.services import audit_record_many
    from tandem.imports.models import ImportRun, ImportStatus

    now = now or timezone.now()
    abandoned_before = (now - dt.timedelta(hours=settings.IMPORT_ABANDONED_HOURS)).timestamp()
    counts = {"abandoned_uploads": 0, "expired_files": 0}
    for folder in uploads_dir().iterdir():
        if not (folder.is_dir() and _is_token(folder.name)):
            continue
        data, made_at = _uploaded_at(folder)
        if (data is None or data.get("run_id") is None) and made_at < abandoned_before:
            shutil.rmtree(folder, ignore_errors=True)
            counts["abandoned_uploads"] += 1

    expired = ImportRun.objects.filter(
        status__in=(ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED),
        finished_at__lt=now - dt.timedelta(days=settings.IMPORT_SOURCE_RETENTION_DAYS),
    ).exclude(file_path="")
    stored = data_dir().resolve()
    discarded = []
    for run in expired.iterator():
        folder = Path(run.file_path).resolve().parent
        # Only copies Tandem keeps (an upload's folder, or a run's own); a CLI import's file is the user's.
        if folder.parent in (stored, uploads_dir().resolve()) and folder != stored:
            shutil.rmtree(folder, ignore_errors=True)
            ImportRun.objects.filter(pk=run.pk).update(file_path="")
            discarded.append(
                (run, {"file_path": run.file_path}, {"file_path": ""}, "Imported file discarded after retention")
            )
    counts["expired_files"] = len(discarded)
    if discarded:
        audit_record_many(by=Actor.system("import clean-up"), action="import_file_discard", changes=discarded)
    if counts["abandoned_uploads"]:
        logger.info("Discarded %d uploads never imported", counts["abandoned_uploads"])
    return counts

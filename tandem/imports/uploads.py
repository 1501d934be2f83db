"""Files uploaded to the import wizard, kept with the choices made about them until they are imported.

Each upload lives in its own folder under the data directory, named by a random token: the file
itself and `upload.json` (kind, original name, who uploaded it, the mapping chosen so far). The
import run that is created when the user presses Run reads the file from there, so the folder
stays as long as the run's record does.
"""

import json
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.utils import timezone

from tandem.imports.services import data_dir

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

"""The HTTP answer of an export, shared by the web UI and the API: CSV streamed, XLSX as a file."""

import datetime as dt
import tempfile

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse

from tandem.exports import services
from tandem.exports.models import ExportFormat, ExportKind
from tandem.exports.selectors import Filters

CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def download_response(*, by, kind: str, file_format: str, filters: Filters) -> HttpResponseBase:
    """A download of one list; bad filters (ValidationError) and too many rows for XLSX
    (ExportTooLargeError) are raised before anything is sent."""
    kind, file_format = ExportKind(kind), ExportFormat(file_format)
    if file_format == ExportFormat.CSV:
        chunks = services.export_csv_stream(by=by, kind=kind, filters=filters)
        response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[file_format])
    else:
        # A workbook is a zip archive finished at the end, so it is built in a temporary file first;
        # the response closes (and so deletes) it once sent.
        workbook = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115
        try:
            services.export_write(by=by, kind=kind, filters=filters, file_format=file_format, target=workbook)
        except BaseException:
            workbook.close()
            raise
        workbook.seek(0)
        response = FileResponse(workbook, content_type=CONTENT_TYPES[file_format])
    response["Content-Disposition"] = f'attachment; filename="{kind}-{dt.date.today().isoformat()}.{file_format}"'
    response["Cache-Control"] = "no-store"
    return response

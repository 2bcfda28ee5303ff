"""Files in storage as downloads with their Content-Length, never rendered within the request.

On the filesystem storage a FileResponse hands the open file to the server (gunicorn sends it
with sendfile); on S3 the client is redirected to a short-lived signed URL, so the bytes never
pass through a web worker at all. Several files in a row (a version's `all` = train, then eval)
are streamed one after the other, with the sum of their sizes as the Content-Length.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase

from curation.services.version_exports import read_files


def stored_file_response(names: list[str], *, filename: str, content_type: str) -> HttpResponseBase:
    """The stored files `names`, in order, as one attachment named `filename`."""
    if len(names) == 1:
        path = _local_path(names[0])
        if path is None:
            return HttpResponseRedirect(_signed_url(names[0], filename))
        response = FileResponse(open(path, "rb"), as_attachment=True, filename=filename)  # noqa: SIM115
        response["Content-Type"] = content_type
        return response
    streamed = StreamingHttpResponse(read_files(names), content_type=content_type)
    streamed["Content-Length"] = str(sum(default_storage.size(name) for name in names))
    streamed["Content-Disposition"] = f'attachment; filename="{filename}"'
    return streamed


def _local_path(name: str) -> str | None:
    try:
        return str(default_storage.path(name))
    except NotImplementedError:  # S3 and other remote storages
        return None


def _signed_url(name: str, filename: str) -> str:
    disposition = f'attachment; filename="{filename}"'
    try:
        return str(default_storage.url(name, parameters={"ResponseContentDisposition": disposition}))  # type: ignore[call-arg]
    except TypeError:  # a storage whose url() takes no parameters
        return str(default_storage.url(name))

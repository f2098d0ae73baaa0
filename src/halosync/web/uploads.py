"""One file per upload: the rule ``POST /import`` and the UI's import page share.

A form may carry several file parts (``-F file=@a.csv -F file=@b.json``); the route's
``UploadFile`` parameter is the last of them, so the others would be dropped unread.
"""

from __future__ import annotations

from pathlib import PurePath

from fastapi import Request
from starlette.datastructures import FormData, UploadFile


def several_files_problem(form: FormData) -> str | None:
    """What is wrong when ``form`` holds more than one file; ``None`` otherwise."""
    names = [
        PurePath((value.filename or "").replace("\\", "/")).name or "(no name)"
        for _, value in form.multi_items()
        if isinstance(value, UploadFile)
    ]
    if len(names) <= 1:
        return None
    return f"{len(names)} files were sent ({', '.join(names)}); send one file per request"


async def several_files_sent(request: Request) -> str | None:
    """:func:`several_files_problem` of the request's form, as a dependency (the form is
    the one Starlette parsed for the route already: it keeps it)."""
    return several_files_problem(await request.form())

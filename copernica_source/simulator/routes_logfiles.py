"""HTTP routes of the daily log files: `logfiles` (dates, or names by date and type) and
`logfile/$name/{csv,json,xml}` (a file, streamed)."""
from __future__ import annotations

from typing import Any

from .logfiles import CONTENT_TYPES, LogFiles
from .router import NO_ENTITY, ApiError, Request, Response, Router


def register(router: Router, files: LogFiles) -> None:
    def listing(req: Request) -> Any:
        """The names page writes `logfiles&date=$date&type=$type`; read as the query string it must be.
        Either parameter alone filters by it; neither gives the dates (a bare JSON array either way).
        An empty value counts as absent; a value that is no date, or no type served, lists nothing."""
        day, kind = req.params.get("date") or None, req.params.get("type") or None
        if day is None and (kind is None or files.quirks.logfile_type_listing == "dates"):
            return files.dates()  # quirk logfile_type_listing=dates: a type alone is not honoured
        return files.names(day, kind)

    def download(req: Request) -> Response:
        ref = files.lookup(req.match["name"])
        if ref is None:
            raise ApiError(NO_ENTITY)
        fmt = req.match["fmt"]
        return Response(200, content_type=CONTENT_TYPES[fmt], stream=files.body(ref, fmt))

    router.add("GET", "logfiles", listing)
    router.add("GET", "logfile/(?P<name>[^/]+)/(?P<fmt>csv|json|xml)", download)

"""HTTP routes of the emailing and engagement endpoints, for both product prefixes."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engagement import EVENT_KINDS, Product
from .router import NO_ENTITY, ApiError, Request, Router

KIND = "(?P<kind>" + "|".join(EVENT_KINDS) + ")"


def register(router: Router, products: Mapping[str, Product]) -> None:
    """Serve the emailing and engagement endpoints of each product ("html", "draganddrop")."""
    def product(req: Request) -> Product:
        return products[req.product]

    def emailing(req: Request) -> tuple[Product, int]:
        p = product(req)
        j = p.emailings.index(req.match["id"])
        if j is None:
            raise ApiError(NO_ENTITY)
        return p, j

    def destination(req: Request) -> tuple[Product, int, int]:
        p = product(req)
        found = p.find_destination(req.match["id"])
        if found is None:
            raise ApiError(NO_ENTITY)
        return p, found[0], found[1]

    def emailings(req: Request) -> Any:
        return product(req).emailings_list(req.params)

    def one_emailing(req: Request) -> Any:
        p, j = emailing(req)
        return p.emailing_row(j, single=True)

    def statistics(req: Request) -> Any:
        p, j = emailing(req)
        return p.statistics(j, req.params)

    def snapshot(req: Request) -> Any:
        p, j = emailing(req)
        return p.snapshot(j)

    def emailing_destinations(req: Request) -> Any:
        p, j = emailing(req)
        return p.emailing_destinations(j, req.conds, req.params)

    def emailing_events(req: Request) -> Any:
        p, j = emailing(req)
        return p.events(req.match["kind"], ("emailing", j), req.conds, req.params)

    def all_events(req: Request) -> Any:
        return product(req).events(req.match["kind"], ("all",), req.conds, req.params)

    def all_destinations(req: Request) -> Any:
        return product(req).all_destinations(req.params)

    def one_destination(req: Request) -> Any:
        p, j, d = destination(req)
        return p.destination_row(j, d, "single")

    def destination_statistics(req: Request) -> Any:
        p, j, d = destination(req)
        return p.destination_statistics(j, d)

    def destination_events(req: Request) -> Any:
        p, j, d = destination(req)
        return p.events(req.match["kind"], ("destination", j, d), req.conds, req.params)

    add = router.add
    add("GET", "{p}/emailings", emailings)
    add("GET", "{p}/emailing/(?P<id>[^/]+)", one_emailing)
    add("GET", "{p}/emailing/(?P<id>[^/]+)/statistics", statistics)
    add("GET", "{p}/emailing/(?P<id>[^/]+)/snapshot", snapshot)
    add("GET", "{p}/emailing/(?P<id>[^/]+)/destinations", emailing_destinations)
    add("GET", "{p}/emailing/(?P<id>[^/]+)/" + KIND, emailing_events)
    add("GET", "{p}/" + KIND, all_events)
    add("GET", "{p}/destinations", all_destinations)
    add("GET", "{p}/destination/(?P<id>[^/]+)", one_destination)
    add("GET", "{p}/destination/(?P<id>[^/]+)/statistics", destination_statistics)
    add("GET", "{p}/destination/(?P<id>[^/]+)/" + KIND, destination_events)

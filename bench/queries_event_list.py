"""The event list phase of bench/queries.py: `GET /events` as a client reconciling with it asks,
on the same 1M events, against the same SQL run raw. Issue 15: index-backed, p95 under 20 ms.

Each kind of query gets `--requests` first pages (its parameters drawn from the same seeded
samples as the other phases), then the next page of each answer that has one,
from its nextCursor. The SQL is captured in an untimed pass, then the timed pass runs through
Django's test client, then the captured statements run raw over one connection.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from benchenv import captured_sql, explain_rows, percentile, plan_line, raw_timings

TARGET_P95_MS = 20.0

Params = dict[str, Any]


def _day(sample: Params) -> Params:
    """createdAt within the sample's day (UTC): since its midnight, until the next."""
    day = date.fromisoformat(sample["date"])
    return {"since": f"{day}T00:00:00Z", "until": f"{day + timedelta(days=1)}T00:00:00Z"}


# The kinds of query, each a function of a sample (metric, date, email) to the query string.
KINDS: list[tuple[str, Callable[[Params], Params]]] = [
    ("no filter", lambda s: {}),
    ("syncStatus=failed", lambda s: {"syncStatus": "failed"}),
    ("syncStatus=pending", lambda s: {"syncStatus": "pending"}),
    ("metric", lambda s: {"metric": s["metric"]}),
    ("email", lambda s: {"email": s["email"]}),
    ("a day", _day),
    ("metric + failed", lambda s: {"metric": s["metric"], "syncStatus": "failed"}),
    ("metric + a day", lambda s: {"metric": s["metric"], **_day(s)}),
    ("email + metric", lambda s: {"email": s["email"], "metric": s["metric"]}),
    ("failed + a day", lambda s: {"syncStatus": "failed", **_day(s)}),
]


def _get(client: Any, params: Params) -> tuple[float, str | None]:
    """One GET /events: (milliseconds, its nextCursor)."""
    started = time.perf_counter()
    response = client.get("/events", params)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (params, response.content[:300])
    return elapsed, response.json()["nextCursor"]


def _pages(client: Any, params: list[Params], limit: int) -> tuple[list[Params], list[Params]]:
    """The first pages' query strings, and the second pages' (those whose first had a next)."""
    first = [{**p, "limit": limit} for p in params]
    second = []
    for query in first:
        _, cursor = _get(client, query)
        if cursor:
            second.append({**query, "cursor": cursor})
    return first, second


def event_list_phase(args: argparse.Namespace, client: Any, samples: list[Params]) -> float:
    """Prints the phase's table and verdict; returns the worst API p95 (ms). `client`: Django's
    test client with the API key; `samples`: a metric, a date and an email each."""
    from events.models import Event

    table = Event._meta.db_table
    print(f"\nGET /events, pages of {args.list_limit}, {len(samples)} requests a kind, ms:")
    print(f"  {'kind':<30}{'API p50':>9}{'API p95':>9}{'raw p50':>9}{'raw p95':>9}  plan")
    worst = 0.0
    for name, build in KINDS:
        first, second = _pages(client, [build(s) for s in samples], args.list_limit)
        for page, queries in (("", first), (", page 2", second)):
            if not queries:
                continue
            statements = captured_sql(client, "/events", queries, table)
            raw = raw_timings(statements)
            api = [_get(client, query)[0] for query in queries]
            api_p95 = percentile(api, 0.95)
            worst = max(worst, api_p95)
            print(
                f"  {name + page:<30}{statistics.median(api):>9.2f}{api_p95:>9.2f}"
                f"{statistics.median(raw):>9.2f}{percentile(raw, 0.95):>9.2f}  "
                f"{plan_line(explain_rows(statements[0])[0])}"
            )
    verdict = "OK" if worst < TARGET_P95_MS else "OVER TARGET"
    target = f"target {TARGET_P95_MS:.0f} ms"
    print(f"  GET /events: worst API p95 {worst:.2f} ms vs {target}: {verdict}")
    return worst

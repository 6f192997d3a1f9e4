"""schemathesis hooks for scripts/api_fuzz.sh: the rules JSON Schema cannot state.

The OpenAPI document declares every rule the server checks that JSON Schema can express. Three
cannot be: they compare a value with the server's clock or with another field. The document
states them in words (see docs/api.md, "What the OpenAPI document cannot say"); here, before a
request goes out, a generated value that breaks one of them is moved just inside it, so that a
request the document calls valid is one the server may accept. Only values that are already of
the declared type and format are touched, and schemathesis re-validates an edited case against
the document, so a case that was invalid for another reason stays invalid and is still expected
to be refused.

1. `until` (an override, a pause, an emergency stop) must be in the future.
2. A reported time (`at` of a heartbeat, of each entry of a heartbeat batch, of each demand
   sample) must be no earlier than 1970-01-01T00:00:00Z and at most 5 minutes ahead of the
   server's clock.
3. A schedule's `start_minute` must be below its `end_minute`.
4. A flag's ladder is strictly increasing, in steps of 0.01, and ends at 100; a boolean flag
   has no variants, a variants flag has at least one (names distinct) and an `off_variant`.
   An edit (`PATCH`) cannot know the stored flag's kind, so its variant fields are dropped.
5. Agents may create at most 100 pools (a heartbeat or registration naming a new one beyond
   that is a documented 409): every generated `pool` of a heartbeat, a heartbeat batch entry
   or a registration is mapped onto one of three names, so the run neither reaches the limit
   nor starts an engine per generated name (scripts/api_fuzz.sh records demand for the three,
   so a forecast of any of them can answer).

Nothing else is adjusted: every other refusal of a request the document calls valid is a
failure.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import schemathesis

RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$"
)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The document's largest minute of a day for `start_minute`: a start there ends at 1440.
LAST_START_MINUTE = 1439


def parse(value: object) -> datetime | None:
    """An RFC 3339 date-time as an aware datetime; None for anything else (or year 0)."""
    if not isinstance(value, str):
        return None
    m = RFC3339.match(value)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        # A leap second (:60) compares as the second before it.
        t = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=timezone.utc)
    except ValueError:
        return None
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        t -= offset if m.group(9) == "+" else -offset
    return t


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def future(obj: dict, key: str) -> None:
    """Rule 1."""
    value = obj.get(key)
    if not (isinstance(value, str) and RFC3339.match(value)):
        return
    t = parse(value)
    now = datetime.now(timezone.utc)
    # A margin for the time the request takes to arrive.
    if t is None or t <= now + timedelta(seconds=5):
        obj[key] = rfc3339(now + timedelta(days=1))


def reported(obj: object, key: str = "at") -> None:
    """Rule 2."""
    if not isinstance(obj, dict) or not isinstance(obj.get(key), str):
        return
    if not RFC3339.match(obj[key]):
        return
    t = parse(obj[key])
    now = datetime.now(timezone.utc)
    if t is None or t < EPOCH or t > now:
        obj[key] = rfc3339(now)


def whole(value: object) -> int | None:
    """A JSON integer (`5` or `5.0`, as JSON Schema counts them), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


def schedules(body: dict) -> None:
    """Rule 3."""
    scheduler = body.get("settings", {})
    scheduler = scheduler.get("scheduler") if isinstance(scheduler, dict) else None
    entries = scheduler.get("schedules") if isinstance(scheduler, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        start, end = whole(entry.get("start_minute")), whole(entry.get("end_minute"))
        if start is not None and end is not None and 0 <= start <= LAST_START_MINUTE and start >= end:
            entry["end_minute"] = start + 1


def ladder(obj: dict) -> None:
    """Rule 4, the ladder: each stage rounded to 0.01, sorted, distinct, ending at 100."""
    stages = obj.get("ladder")
    if not isinstance(stages, list) or not all(
        isinstance(p, (int, float)) and not isinstance(p, bool) and 0 < p <= 100 for p in stages
    ):
        return
    steps = sorted({round(p * 100) for p in stages if round(p * 100) > 0})
    if not steps or steps[-1] != 10000:
        steps.append(10000)
    obj["ladder"] = [s / 100 for s in steps]


def flag_kind(flag: dict) -> None:
    """Rule 4, the variants."""
    if flag.get("kind") == "boolean":
        flag.pop("variants", None)
        flag.pop("off_variant", None)
    elif flag.get("kind") == "variants":
        variants = flag.setdefault("variants", [])
        if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
            return
        if not variants:
            variants.append({"name": "on", "weight": 1})
        for i, v in enumerate(variants):
            v["name"] = f"{v.get('name')}-{i}"
        if not isinstance(flag.get("off_variant"), str):
            flag["off_variant"] = "off"


FUZZ_POOLS = ("default", "fuzz-a", "fuzz-b")


def pool(obj: object) -> None:
    if isinstance(obj, dict) and isinstance(obj.get("pool"), str):
        obj["pool"] = FUZZ_POOLS[sum(obj["pool"].encode()) % len(FUZZ_POOLS)]


def entries(body: dict, key: str) -> list:
    value = body.get(key)
    return value if isinstance(value, list) else []


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    op = (case.method.upper(), case.operation.path)
    if op in {
        ("PUT", "/api/v1/agents/{id}/override"),
        ("PUT", "/api/v1/controls/pause"),
        ("POST", "/api/v1/emergency/stop"),
    }:
        future(body, "until")
    elif op == ("POST", "/api/v1/agents/{id}/heartbeat"):
        reported(body)
        pool(body)
    elif op == ("POST", "/api/v1/heartbeats"):
        for beat in entries(body, "heartbeats"):
            reported(beat)
            pool(beat)
    elif op == ("POST", "/api/v1/agents"):
        pool(body)
    elif op == ("POST", "/api/v1/demand"):
        for sample in entries(body, "samples"):
            reported(sample)
    elif op == ("PUT", "/api/v1/config"):
        schedules(body)
    elif op == ("POST", "/api/v1/flags") and isinstance(body.get("flag"), dict):
        ladder(body["flag"])
        flag_kind(body["flag"])
    elif op == ("PATCH", "/api/v1/flags/{key}"):
        ladder(body)
        body.pop("variants", None)
        body.pop("off_variant", None)

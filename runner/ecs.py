"""Offline indexing: a raw ``_source`` document as Elasticsearch would see it.

``runner test-rule`` evaluates rules over documents that were never indexed.
For its answers to equal the daemon's, each value must take the form the
search API's ``fields`` option would return for it after indexing:

* :func:`flatten` turns nested objects, dotted keys and arrays of objects into
  dotted names with lists of values, as Elasticsearch's object fields do
  (https://www.elastic.co/guide/en/elasticsearch/reference/current/array.html);
* :func:`field_type` gives the ECS type of a field by its name, and
  :func:`coerce` converts a value as a field of that type indexes it: ``"1"``
  becomes ``1`` in a ``long``, ``::FFFF:10.1.2.3`` becomes ``10.1.2.3`` in an
  ``ip``, ``1`` becomes ``"1"`` in a ``keyword``;
* a value the field rejects (``"not-an-ip"`` in an ``ip``) is dropped, as
  ``index.mapping.ignore_malformed`` does on the ``logs-*-*`` data streams:
  the document is indexed without that field, and ``fields`` omits it.

:func:`event_from_source` and :func:`event_from_hit` build the
:class:`~runner.events.Event` the predicates and the matcher consume.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from runner.eql.cidr import normalize_ip
from runner.eql.functions import java_string, parse_number
from runner.events import Event

KEYWORD: Final = "keyword"
LONG: Final = "long"
FLOAT: Final = "float"
IP: Final = "ip"
DATE: Final = "date"
BOOLEAN: Final = "boolean"


class _Malformed:
    """The type of :data:`MALFORMED`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MALFORMED"


MALFORMED: Final = _Malformed()
"""What :func:`coerce` returns for a value its field would not index."""

# ECS field types by exact name, then by suffix. A field found in neither is a
# keyword, as most ECS fields are and as the logs-* dynamic templates map
# strings.
_TYPES_BY_NAME: Final[dict[str, str]] = {
    "ip": IP,
    "@timestamp": DATE,
    "event.created": DATE,
    "event.ingested": DATE,
    "event.start": DATE,
    "event.end": DATE,
    "process.start": DATE,
    "process.end": DATE,
    "process.parent.start": DATE,
    "process.parent.end": DATE,
    "file.created": DATE,
    "file.ctime": DATE,
    "file.mtime": DATE,
    "file.accessed": DATE,
    "event.sequence": LONG,
    "event.severity": LONG,
    "event.duration": LONG,
    "file.size": LONG,
    "http.response.status_code": LONG,
    "dns.answers.ttl": LONG,
    "process.uptime": LONG,
    "host.uptime": LONG,
    "event.risk_score": FLOAT,
    "event.risk_score_norm": FLOAT,
    "process.interactive": BOOLEAN,
    "process.parent.interactive": BOOLEAN,
}
_TYPES_BY_SUFFIX: Final[tuple[tuple[str, str], ...]] = (
    (".ip", IP),
    (".pid", LONG),
    (".ppid", LONG),
    (".pgid", LONG),
    (".port", LONG),
    (".bytes", LONG),
    (".packets", LONG),
    (".args_count", LONG),
    (".exit_code", LONG),
    (".thread.id", LONG),
    (".code_signature.exists", BOOLEAN),
    (".code_signature.trusted", BOOLEAN),
    (".code_signature.valid", BOOLEAN),
)

_ISO_8601 = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d{1,9}))?)?)?)?)?)?"
    r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def field_type(name: str) -> str:
    """Return the ECS type of a field: ``keyword``, ``long``, ``ip``, ``date``, …."""
    found = _TYPES_BY_NAME.get(name)
    if found is not None:
        return found
    for suffix, kind in _TYPES_BY_SUFFIX:
        if name.endswith(suffix):
            return kind
    return KEYWORD


def flatten(source: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Return a document's leaf values by dotted name.

    ``{"a": {"b": 1}}`` and ``{"a.b": 1}`` both give ``{"a.b": [1]}``; an array
    of objects contributes each object's values to the same names; nested
    arrays are flattened; nulls, empty arrays and empty objects give nothing.
    """
    flat: dict[str, list[Any]] = {}
    for name, value in _leaves("", source):
        flat.setdefault(name, []).append(value)
    return flat


def _leaves(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _leaves(f"{prefix}.{key}" if prefix else str(key), child)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(prefix, item)
    elif value is not None and prefix:
        yield prefix, value


def coerce(name: str, value: Any) -> Any:
    """Return ``value`` as the field ``name`` indexes it, or :data:`MALFORMED`.

    Follows the mappers' coercion rules: a ``long`` takes numbers and numeric
    strings and truncates fractions; a ``keyword`` stores the text of a number
    or boolean; an ``ip`` is normalised; a ``date`` is returned as the
    ``fields`` option formats it (``2026-12-01T10:00:00.000Z``); a
    ``boolean`` takes ``true``/``false`` and their strings.
    """
    kind = field_type(name)
    if kind == KEYWORD:
        text = java_string(value)
        return MALFORMED if text is None else text
    if kind in (LONG, FLOAT):
        return _coerce_number(value, integral=kind == LONG)
    if kind == IP:
        address = normalize_ip(value)
        return MALFORMED if address is None else address
    if kind == DATE:
        try:
            return format_timestamp(parse_timestamp(value))
        except ValueError:
            return MALFORMED
    return _coerce_boolean(value)


def _coerce_number(value: Any, *, integral: bool) -> Any:
    kind = type(value)
    if kind is str:
        value = parse_number(value.strip())
    elif kind is not int and kind is not float:
        return MALFORMED
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return MALFORMED
    return int(value) if integral else float(value)


def _coerce_boolean(value: Any) -> Any:
    # Elasticsearch's boolean field also takes "" as false; it has no
    # ignore_malformed, so a bad value rejects the whole document there.
    if type(value) is bool:
        return value
    return {"true": True, "false": False, "": False}.get(value, MALFORMED)


def parse_timestamp(value: Any) -> int:
    """Return a date value as epoch milliseconds.

    Accepts what a ``date`` field with the default
    ``strict_date_optional_time||epoch_millis`` format accepts: ISO 8601
    (``2026-12-01T10:00:00.123Z``, an offset, or no zone for UTC) and epoch
    milliseconds as a number or a string of more than four digits.

    Raises:
        ValueError: The value is no such date.
    """
    kind = type(value)
    if kind is int or kind is float:
        return int(value)
    if kind is not str:
        raise ValueError(f"not a date: {value!r}")
    if value.isdigit() and len(value) > 4:
        return int(value)
    match = _ISO_8601.fullmatch(value)
    if match is None:
        raise ValueError(f"not an ISO 8601 date: {value!r}")
    return _epoch_ms(match)


def _epoch_ms(match: re.Match[str]) -> int:
    part = match.group
    fraction = (part("fraction") or "").ljust(3, "0")[:3]
    try:
        moment = datetime(
            int(part("year")),
            int(part("month") or 1),
            int(part("day") or 1),
            int(part("hour") or 0),
            int(part("minute") or 0),
            int(part("second") or 0),
            int(fraction) * 1000,
            tzinfo=_zone(part("zone")),
        )
    except ValueError as exc:
        raise ValueError(f"not a valid date: {match.string!r}") from exc
    return (moment - _EPOCH) // _MILLISECOND


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-offset if text[0] == "-" else offset)


def format_timestamp(epoch_ms: int) -> str:
    """Format epoch milliseconds as the ``fields`` option returns a date."""
    moment = _EPOCH + epoch_ms * _MILLISECOND
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def coerce_fields(
    flat: Mapping[str, list[Any]], malformed: Counter[str] | None = None
) -> dict[str, list[Any]]:
    """Coerce every value of a flattened document; drop the malformed ones.

    Args:
        flat: The output of :func:`flatten`.
        malformed: When given, counts each dropped value by field name.
    """
    fields: dict[str, list[Any]] = {}
    for name, values in flat.items():
        kept = []
        for value in values:
            indexed = coerce(name, value)
            if indexed is MALFORMED:
                if malformed is not None:
                    malformed[name] += 1
            else:
                kept.append(indexed)
        if kept:
            fields[name] = kept
    return fields


def event_from_source(
    source: Mapping[str, Any],
    index: str,
    id: str,
    tiebreaker_field: str = "event.sequence",
    malformed: Counter[str] | None = None,
) -> Event:
    """Build the event Elasticsearch would return for an indexed ``_source``.

    Args:
        source: The raw document.
        index: Its index name.
        id: Its ``_id``.
        tiebreaker_field: The field ordering events of equal timestamp.
        malformed: When given, counts each value dropped as malformed.

    Raises:
        ValueError: ``@timestamp`` is missing or is no date; the message
            names the document.
    """
    flat = flatten(source)
    stamps = flat.get("@timestamp")
    try:
        if not stamps:
            raise ValueError("@timestamp is missing")
        # A multi-valued date sorts by its smallest value.
        timestamp = min(parse_timestamp(stamp) for stamp in stamps)
    except ValueError as exc:
        raise ValueError(f"document {index}/{id}: {exc}") from exc
    fields = coerce_fields(flat, malformed)
    return Event(index, id, timestamp, _first(fields, tiebreaker_field), fields)


def event_from_hit(
    hit: Mapping[str, Any], tiebreaker_field: str = "event.sequence"
) -> Event:
    """Build an event from a search hit fetched with the ``fields`` option.

    The timestamp is the hit's first sort value (epoch milliseconds, as the
    fetch sorts on ``@timestamp``) when there is one, else the first value of
    ``fields['@timestamp']``.

    Raises:
        ValueError: The hit has no usable timestamp; the message names it.
    """
    index, id_ = str(hit.get("_index", "")), str(hit.get("_id", ""))
    fields: Mapping[str, Any] = hit.get("fields") or {}
    sort = hit.get("sort")
    stamps = fields.get("@timestamp") or [None]
    try:
        timestamp = parse_timestamp(sort[0] if sort else stamps[0])
    except ValueError as exc:
        raise ValueError(f"hit {index}/{id_}: {exc}") from exc
    return Event(index, id_, timestamp, _first(fields, tiebreaker_field), fields)


def _first(fields: Mapping[str, Any], name: str) -> int | float | str | None:
    values = fields.get(name)
    if not values:
        return None
    value = values[0]
    return value if isinstance(value, int | float | str) else None

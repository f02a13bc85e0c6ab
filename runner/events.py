"""The event record that flows from the fetch into the matcher.

An :class:`Event` holds a document's values as Elasticsearch indexed them:
``fields`` maps a dotted ECS name to the list of its values, in the shape the
search API's ``fields`` option returns (a scalar becomes a one-element list, a
missing field is absent, an ``ip`` is normalised, a ``long`` is an ``int``).
Offline, :func:`runner.ecs.event_from_source` builds the same shape from a raw
``_source`` document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FieldValues = Mapping[str, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Event:
    """One document, ready for the predicates and the sequence matcher.

    Attributes:
        index: The concrete index the document lives in (``_index``).
        id: The document id (``_id``).
        timestamp: ``@timestamp`` in epoch milliseconds.
        tiebreaker: The value ordering events of equal timestamp (Elastic
            Defend's ``event.sequence``), or None when the document has none.
        fields: Dotted field name to the list of its values.
    """

    index: str
    id: str
    timestamp: int
    tiebreaker: int | float | str | None
    fields: FieldValues

    def values(self, name: str) -> Sequence[Any]:
        """Return the values of ``name``; an empty sequence when missing."""
        return self.fields.get(name, ())

    def order_key(self) -> tuple[int, int, int | float | str, str, str]:
        """Return the key events are matched in.

        Timestamp first, then the tiebreaker (events without one sort after
        those with one at the same millisecond), then ``(_index, _id)`` so
        that equal events keep one stable order whatever the fetch returned.
        """
        missing = 1 if self.tiebreaker is None else 0
        tiebreaker = 0 if self.tiebreaker is None else self.tiebreaker
        return (self.timestamp, missing, tiebreaker, self.index, self.id)

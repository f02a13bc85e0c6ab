"""Match: stream events through the sequence state machines, then cap."""

from __future__ import annotations

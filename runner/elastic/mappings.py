"""Explicit mappings: the ECS fields the runner reads, alerts and checkpoints.

Alerts carry the events' ECS fields, so the alerts index maps them as the
source indices do; a field the mapping does not name falls back to keyword.
"""

from __future__ import annotations

from typing import Any

_KEYWORD = {"type": "keyword", "ignore_above": 1024}
_LONG = {"type": "long"}
_IP = {"type": "ip"}
_DATE = {"type": "date"}


def _process_mapping() -> dict[str, Any]:
    fields = {
        "name": _KEYWORD,
        "executable": _KEYWORD,
        "entity_id": _KEYWORD,
        "command_line": _KEYWORD,
        "args": _KEYWORD,
        "args_count": _LONG,
        "pid": _LONG,
        "working_directory": _KEYWORD,
    }
    parent = {"properties": dict(fields)}
    return {"properties": {**fields, "parent": parent}}


def _endpoint_mapping() -> dict[str, Any]:
    return {
        "properties": {
            "ip": _IP,
            "port": _LONG,
            "address": _KEYWORD,
            "domain": _KEYWORD,
            "bytes": _LONG,
        }
    }


def ecs_mappings() -> dict[str, Any]:
    """Return the explicit ECS mappings of the source indices."""
    keywords = ("category", "type", "action", "kind", "code", "module", "dataset")
    event = dict.fromkeys((*keywords, "provider", "outcome"), _KEYWORD)
    return {
        "dynamic_templates": [
            {
                "strings_as_keyword": {
                    "match_mapping_type": "string",
                    "mapping": _KEYWORD,
                }
            }
        ],
        "properties": {
            "@timestamp": _DATE,
            "event": {
                "properties": {
                    **event,
                    "sequence": _LONG,
                    "ingested": _DATE,
                    "created": _DATE,
                }
            },
            "host": {
                "properties": {
                    "id": _KEYWORD,
                    "name": _KEYWORD,
                    "hostname": _KEYWORD,
                    "ip": _IP,
                    "os": {"properties": {"type": _KEYWORD, "family": _KEYWORD}},
                }
            },
            "process": _process_mapping(),
            "destination": _endpoint_mapping(),
            "source": _endpoint_mapping(),
            "network": {
                "properties": {
                    "direction": _KEYWORD,
                    "transport": _KEYWORD,
                    "protocol": _KEYWORD,
                }
            },
            "dns": {"properties": {"question": {"properties": {"name": _KEYWORD}}}},
            "user": {"properties": {"name": _KEYWORD, "domain": _KEYWORD}},
            "agent": {"properties": {"id": _KEYWORD, "type": _KEYWORD}},
            "winlog": {
                "properties": {
                    "event_id": _KEYWORD,
                    "channel": _KEYWORD,
                    "provider_name": _KEYWORD,
                    "record_id": _KEYWORD,
                    "computer_name": _KEYWORD,
                }
            },
        },
    }


def alert_mappings() -> dict[str, Any]:
    """Return the mappings of the alerts index: ECS plus ``kibana.alert.*``."""
    mappings = ecs_mappings()
    keywords = ("uuid", "rule_id", "name", "type", "severity", "from", "interval")
    lists = ("indices", "tags", "references", "license", "author", "version")
    rule: dict[str, Any] = dict.fromkeys((*keywords, *lists), _KEYWORD)
    rule.update(
        risk_score={"type": "float"},
        max_signals=_LONG,
        description={"type": "text"},
        note={"type": "text"},
        threat={"type": "object", "enabled": False},
        execution={"properties": {"type": _KEYWORD, "uuid": _KEYWORD}},
    )
    mappings["properties"]["kibana"] = {
        "properties": {
            "alert": {
                "properties": {
                    "rule": {"properties": rule},
                    "original_time": _DATE,
                    "reason": {"type": "text"},
                    "ancestors": {
                        "properties": {
                            "id": _KEYWORD,
                            "index": _KEYWORD,
                            "type": _KEYWORD,
                            "depth": _LONG,
                        }
                    },
                    "group": {"properties": {"id": _KEYWORD, "index": _LONG}},
                    "building_block_type": _KEYWORD,
                    "status": _KEYWORD,
                    "workflow_status": _KEYWORD,
                    "uuid": _KEYWORD,
                    "depth": _LONG,
                    "severity": _KEYWORD,
                    "risk_score": {"type": "float"},
                }
            },
            "space_ids": _KEYWORD,
        }
    }
    return mappings


def state_mappings() -> dict[str, Any]:
    """Return the mappings of the state index: checkpoints and gaps."""
    return {
        "dynamic": True,
        "properties": {
            "type": _KEYWORD,
            "rule_id": _KEYWORD,
            "window_end": _DATE,
            "updated_at": _DATE,
            "status": _KEYWORD,
            "error": {"type": "text"},
            "gap_start": _DATE,
            "gap_end": _DATE,
            "stats": {"type": "object", "enabled": False},
        },
    }

"""Realistic Windows telemetry: ECS documents and the templates that hold them.

The demo, the integration tests and the benchmarks index these documents into
the four index families the DllHost rule reads. Each builder returns an
``_source`` document shaped as its producer writes it:

* Elastic Defend (``logs-endpoint.events.process-*``, ``…network-*``);
* Sysmon through the Windows integration (``logs-windows.sysmon_operational-*``);
* Winlogbeat's sysmon module (``winlogbeat-*``).

:func:`source_templates` returns index templates that mirror a real cluster's:
data streams, explicit ECS mappings (``destination.ip`` as ``ip``,
``process.args_count`` as ``long``, keywords for names and ids) and
``index.mapping.ignore_malformed`` as the ``logs-*-*`` templates set it.
"""

from __future__ import annotations

import uuid
from typing import Any

from runner.ecs import format_timestamp
from runner.elastic.mappings import ecs_mappings

Document = dict[str, Any]

# Timestamps as Elasticsearch writes them: ISO 8601 UTC with milliseconds.
iso = format_timestamp

DEFEND_PROCESS = "logs-endpoint.events.process"
DEFEND_NETWORK = "logs-endpoint.events.network"
SYSMON = "logs-windows.sysmon_operational"
WINLOGBEAT = "winlogbeat"
FAMILIES = (WINLOGBEAT, DEFEND_PROCESS, DEFEND_NETWORK, SYSMON)

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SYSMON_PROVIDER = "Microsoft-Windows-Sysmon"


def data_stream_name(family: str, namespace: str) -> str:
    """Return the data stream of ``family`` for ``namespace``."""
    return f"{family}-{namespace}"


def source_templates(namespace_prefix: str = "") -> dict[str, dict[str, Any]]:
    """Return index templates for the four families, keyed by template name.

    Args:
        namespace_prefix: Restricts each template to data streams whose
            namespace starts with it, so tests on a shared cluster touch
            only their own streams.
    """
    template = {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "index.mapping.ignore_malformed": True,
        },
        "mappings": ecs_mappings(),
    }
    suffix = f"-{namespace_prefix}" if namespace_prefix else ""
    return {
        f"eql-runner-source-{family}{suffix}": {
            "index_patterns": [f"{family}-{namespace_prefix}*"],
            "data_stream": {},
            "priority": 500,
            "template": template,
        }
        for family in FAMILIES
    }


def _base(ms: int, host_id: str, category: str, kind: str) -> Document:
    return {
        "@timestamp": iso(ms),
        "event": {"kind": "event", "category": [category], "type": [kind]},
        "host": {
            "id": host_id,
            "name": "WS-" + host_id.rsplit("-", 1)[-1][:8].upper(),
            "os": {"type": "windows", "family": "windows"},
        },
    }


def _process(name: str, args: list[str], pid: int, entity_id: str) -> Document:
    executable = f"C:\\Windows\\System32\\{name}"
    return {
        "name": name,
        "executable": executable,
        "entity_id": entity_id,
        "pid": pid,
        "args": [executable, *args],
        "args_count": 1 + len(args),
        "command_line": " ".join([executable, *args]),
    }


def defend_process_start(
    ms: int,
    host_id: str,
    entity_id: str,
    *,
    name: str = "dllhost.exe",
    args: list[str] | None = None,
    pid: int = 4242,
    sequence: int = 0,
) -> Document:
    """Return an Elastic Defend process start event."""
    doc = _base(ms, host_id, "process", "start")
    doc["event"].update(
        action="start", sequence=sequence, module="endpoint", dataset="endpoint"
    )
    doc["process"] = _process(name, args or [], pid, entity_id)
    doc["process"]["parent"] = {"name": "svchost.exe", "pid": 812}
    doc["agent"] = {"type": "endpoint", "id": host_id}
    return doc


def defend_network(
    ms: int,
    host_id: str,
    entity_id: str,
    destination_ip: str | None,
    *,
    name: str = "dllhost.exe",
    port: int = 443,
    pid: int = 4242,
    sequence: int = 0,
) -> Document:
    """Return an Elastic Defend outbound connection event."""
    doc = _base(ms, host_id, "network", "start")
    doc["event"].update(
        action="connection_attempted",
        sequence=sequence,
        module="endpoint",
        dataset="endpoint",
    )
    doc["process"] = {"name": name, "pid": pid, "entity_id": entity_id}
    doc["source"] = {"ip": "10.20.30.40", "port": 49700 + sequence % 1000}
    doc["destination"] = {"port": port}
    if destination_ip is not None:
        doc["destination"]["ip"] = destination_ip
    doc["network"] = {"direction": "egress", "transport": "tcp"}
    doc["agent"] = {"type": "endpoint", "id": host_id}
    return doc


def _sysmon(doc: Document, event_id: str, flavor: str) -> Document:
    """Add the Windows event record as the Sysmon producers write it."""
    module = "sysmon" if flavor == WINLOGBEAT else "windows"
    dataset = "sysmon" if flavor == WINLOGBEAT else "windows.sysmon_operational"
    doc["event"].update(
        code=event_id, module=module, dataset=dataset, provider=SYSMON_PROVIDER
    )
    doc["winlog"] = {
        "event_id": event_id,
        "channel": SYSMON_CHANNEL,
        "provider_name": SYSMON_PROVIDER,
        "record_id": str(uuid.uuid4().int % 10**8),
        "computer_name": doc["host"]["name"],
    }
    doc["agent"] = {
        "type": "winlogbeat" if flavor == WINLOGBEAT else "filebeat",
        "id": doc["host"]["id"],
    }
    return doc


def sysmon_process_create(
    ms: int,
    host_id: str,
    process_guid: str,
    *,
    name: str = "dllhost.exe",
    args: list[str] | None = None,
    pid: int = 5252,
    flavor: str = SYSMON,
) -> Document:
    """Return a Sysmon event 1 (process create) as ``flavor`` writes it."""
    doc = _base(ms, host_id, "process", "start")
    doc["event"]["action"] = "Process Create (rule: ProcessCreate)"
    doc["process"] = _process(name, args or [], pid, process_guid)
    doc["process"]["parent"] = {"name": "svchost.exe", "pid": 640}
    return _sysmon(doc, "1", flavor)


def sysmon_network(
    ms: int,
    host_id: str,
    process_guid: str,
    destination_ip: str | None,
    *,
    name: str = "dllhost.exe",
    port: int = 443,
    pid: int = 5252,
    flavor: str = SYSMON,
) -> Document:
    """Return a Sysmon event 3 (network connection) as ``flavor`` writes it."""
    doc = _base(ms, host_id, "network", "connection")
    doc["event"]["type"] = ["connection", "start", "protocol"]
    doc["event"]["action"] = "Network connection detected (rule: NetworkConnect)"
    doc["process"] = {
        "name": name,
        "pid": pid,
        "entity_id": process_guid,
        "executable": f"C:\\Windows\\System32\\{name}",
    }
    doc["destination"] = {"port": port}
    if destination_ip is not None:
        doc["destination"]["ip"] = destination_ip
    doc["source"] = {"ip": "10.20.30.41", "port": 51000}
    doc["network"] = {"direction": "egress", "transport": "tcp"}
    return _sysmon(doc, "3", flavor)


def sysmon_dns(
    ms: int,
    host_id: str,
    process_guid: str,
    query: str,
    *,
    name: str = "dllhost.exe",
    pid: int = 5252,
    flavor: str = SYSMON,
) -> Document:
    """Return a Sysmon event 22 (DNS query): network category, no destination."""
    doc = _base(ms, host_id, "network", "protocol")
    doc["event"]["type"] = ["protocol", "info"]
    doc["event"]["action"] = "Dns query (rule: DnsQuery)"
    doc["process"] = {"name": name, "pid": pid, "entity_id": process_guid}
    doc["dns"] = {"question": {"name": query}}
    doc["network"] = {"protocol": "dns"}
    return _sysmon(doc, "22", flavor)


def process_guid() -> str:
    """Return a Sysmon ProcessGuid in its usual braced form."""
    return "{" + str(uuid.uuid4()).upper() + "}"

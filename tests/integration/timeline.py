"""A crafted timeline for the DllHost rule, with the alerts it must raise.

Every event has its own ``_id`` so that the expected alerts can be named by
the ids of the events they group: a parent alert is identified here by the
tuple of its ancestors' ``_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner import samples

MIN = 60_000
T0 = 1_796_119_200_000  # 2026-12-01T10:00:00Z
END = T0 + 40 * MIN

Doc = dict[str, Any]


@dataclass
class Timeline:
    """Documents by data stream, and the parent alerts they must raise."""

    namespace: str
    docs: list[tuple[str, str, Doc]] = field(default_factory=list)
    expected: set[tuple[str, ...]] = field(default_factory=set)

    def add(self, family: str, doc_id: str, doc: Doc) -> None:
        """Add one document to the family's data stream of this namespace."""
        self.docs.append(
            (samples.data_stream_name(family, self.namespace), doc_id, doc)
        )

    def expect(self, *doc_ids: str) -> None:
        """Declare a parent alert grouping these events, in order."""
        self.expected.add(doc_ids)


def _defend_pair(
    tl: Timeline, name: str, start_ms: int, net_ms: int, ip: str | None, **start: Any
) -> None:
    host = f"host-{name}"
    tl.add(
        samples.DEFEND_PROCESS,
        f"{name}-start",
        samples.defend_process_start(start_ms, host, f"ep-{name}", **start),
    )
    tl.add(
        samples.DEFEND_NETWORK,
        f"{name}-net",
        samples.defend_network(net_ms, host, f"ep-{name}", ip),
    )


def build(namespace: str) -> Timeline:
    """Return the timeline: true positives, look-alikes and bad documents."""
    tl = Timeline(namespace)
    # Elastic Defend to a public IPv4 address, 30 s after the start.
    _defend_pair(tl, "tp-defend", T0 + 1 * MIN, T0 + 1 * MIN + 30_000, "8.8.8.8")
    tl.expect("tp-defend-start", "tp-defend-net")

    # Sysmon (Windows integration) to public IPv6, exactly one minute later.
    guid = "{11111111-AAAA-4BBB-8CCC-000000000001}"
    tl.add(
        samples.SYSMON,
        "tp-sysmon-start",
        samples.sysmon_process_create(T0 + 7 * MIN, "host-sysmon", guid),
    )
    tl.add(
        samples.SYSMON,
        "tp-sysmon-net",
        samples.sysmon_network(
            T0 + 8 * MIN, "host-sysmon", guid, "2606:4700:4700::1111"
        ),
    )
    tl.expect("tp-sysmon-start", "tp-sysmon-net")

    # Winlogbeat, one minute and one millisecond later: too late.
    guid = "{11111111-AAAA-4BBB-8CCC-000000000002}"
    wlb = samples.WINLOGBEAT
    tl.add(
        wlb,
        "late-start",
        samples.sysmon_process_create(T0 + 12 * MIN, "host-wlb", guid, flavor=wlb),
    )
    tl.add(
        wlb,
        "late-net",
        samples.sysmon_network(
            T0 + 13 * MIN + 1, "host-wlb", guid, "1.1.1.1", flavor=wlb
        ),
    )

    # Winlogbeat true positive, upper-case process name.
    guid = "{11111111-AAAA-4BBB-8CCC-000000000003}"
    tl.add(
        wlb,
        "tp-wlb-start",
        samples.sysmon_process_create(
            T0 + 14 * MIN, "host-wlb", guid, flavor=wlb, name="DLLHOST.EXE"
        ),
    )
    tl.add(
        wlb,
        "tp-wlb-net",
        samples.sysmon_network(
            T0 + 14 * MIN + 5_000,
            "host-wlb",
            guid,
            "52.84.12.7",
            flavor=wlb,
            name="DllHost.exe",
        ),
    )
    tl.expect("tp-wlb-start", "tp-wlb-net")

    # Private, IPv4-mapped private and link-local destinations: excluded.
    _defend_pair(tl, "private", T0 + 16 * MIN, T0 + 16 * MIN + 1_000, "10.9.8.7")
    _defend_pair(
        tl, "mapped", T0 + 16 * MIN, T0 + 16 * MIN + 2_000, "::ffff:192.168.1.1"
    )
    _defend_pair(tl, "linklocal", T0 + 17 * MIN, T0 + 17 * MIN + 1_000, "FE80::1234")

    # Arguments: args_count 2 does not match.
    _defend_pair(
        tl,
        "with-args",
        T0 + 18 * MIN,
        T0 + 18 * MIN + 1_000,
        "8.8.8.8",
        args=["/Processid:{AB}"],
    )

    # Repeated starts of one process: the latest start pairs.
    host, entity = "host-repeat", "ep-repeat"
    tl.add(
        samples.DEFEND_PROCESS,
        "repeat-start-1",
        samples.defend_process_start(T0 + 20 * MIN, host, entity),
    )
    tl.add(
        samples.DEFEND_PROCESS,
        "repeat-start-2",
        samples.defend_process_start(T0 + 20 * MIN + 30_000, host, entity),
    )
    tl.add(
        samples.DEFEND_NETWORK,
        "repeat-net",
        samples.defend_network(T0 + 21 * MIN + 10_000, host, entity, "9.9.9.9"),
    )
    tl.expect("repeat-start-2", "repeat-net")

    # Sysmon DNS query (event 22): network, no destination.ip, passes.
    guid = "{11111111-AAAA-4BBB-8CCC-000000000004}"
    tl.add(
        samples.SYSMON,
        "dns-start",
        samples.sysmon_process_create(T0 + 23 * MIN, "host-dns", guid),
    )
    tl.add(
        samples.SYSMON,
        "dns-query",
        samples.sysmon_dns(T0 + 23 * MIN + 2_000, "host-dns", guid, "evil.test"),
    )
    tl.expect("dns-start", "dns-query")

    _bad_documents(tl)
    return tl


def _bad_documents(tl: Timeline) -> None:
    """Documents a real cluster receives and the rule must survive."""
    # A malformed IP is dropped by ignore_malformed: it passes the exclusion.
    _defend_pair(tl, "badip", T0 + 25 * MIN, T0 + 25 * MIN + 1_000, "not-an-ip")
    tl.expect("badip-start", "badip-net")

    # args_count sent as a string is indexed as the long 1.
    host = "host-strcount"
    start = samples.defend_process_start(T0 + 26 * MIN, host, "ep-strcount")
    start["process"]["args_count"] = "1"
    tl.add(samples.DEFEND_PROCESS, "strcount-start", start)
    tl.add(
        samples.DEFEND_NETWORK,
        "strcount-net",
        samples.defend_network(T0 + 26 * MIN + 1_000, host, "ep-strcount", "8.8.8.8"),
    )
    tl.expect("strcount-start", "strcount-net")

    # args_count that is no number is dropped: the start does not match.
    start = samples.defend_process_start(T0 + 27 * MIN, "host-nan", "ep-nan")
    start["process"]["args_count"] = "one"
    tl.add(samples.DEFEND_PROCESS, "nan-start", start)
    tl.add(
        samples.DEFEND_NETWORK,
        "nan-net",
        samples.defend_network(T0 + 27 * MIN + 1_000, "host-nan", "ep-nan", "8.8.8.8"),
    )

    # A network event without process.entity_id takes no part.
    net = samples.defend_network(T0 + 28 * MIN + 1_000, "host-nokey", "x", "8.8.8.8")
    del net["process"]["entity_id"]
    tl.add(
        samples.DEFEND_PROCESS,
        "nokey-start",
        samples.defend_process_start(T0 + 28 * MIN, "host-nokey", "x"),
    )
    tl.add(samples.DEFEND_NETWORK, "nokey-net", net)

    # event.type as a scalar and process.name as an array still match.
    host = "host-shapes"
    start = samples.defend_process_start(T0 + 30 * MIN, host, "ep-shapes")
    start["event"]["type"] = "start"
    net = samples.defend_network(T0 + 30 * MIN + 1_000, host, "ep-shapes", "8.8.8.8")
    net["process"]["name"] = ["dllhost.exe", "other.exe"]
    tl.add(samples.DEFEND_PROCESS, "shapes-start", start)
    tl.add(samples.DEFEND_NETWORK, "shapes-net", net)
    tl.expect("shapes-start", "shapes-net")

    # Missing host.os.type: neither stage matches.
    start = samples.defend_process_start(T0 + 32 * MIN, "host-noos", "ep-noos")
    del start["host"]["os"]
    tl.add(samples.DEFEND_PROCESS, "noos-start", start)
    tl.add(
        samples.DEFEND_NETWORK,
        "noos-net",
        samples.defend_network(
            T0 + 32 * MIN + 1_000, "host-noos", "ep-noos", "8.8.8.8"
        ),
    )


def true_positives(
    namespace: str, name: str, count: int, spacing_ms: int
) -> list[tuple[str, str, Doc]]:
    """Return ``count`` Elastic Defend true positives, ``spacing_ms`` apart.

    Each has its own host and process; its connection follows its start by
    half the spacing. Ids are ``<name>-<n>-start`` and ``<name>-<n>-net``.
    """
    docs = []
    for n in range(count):
        start = T0 + n * spacing_ms
        host, entity = f"host-{name}-{n:04d}", f"ep-{name}-{n:04d}"
        net = samples.defend_network(start + spacing_ms // 2, host, entity, "8.8.8.8")
        docs.append(
            (
                samples.data_stream_name(samples.DEFEND_PROCESS, namespace),
                f"{name}-{n}-start",
                samples.defend_process_start(start, host, entity),
            )
        )
        docs.append(
            (
                samples.data_stream_name(samples.DEFEND_NETWORK, namespace),
                f"{name}-{n}-net",
                net,
            )
        )
    return docs

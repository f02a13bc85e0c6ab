"""The README's first command: the demo, run once against the real node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

pytestmark = pytest.mark.elasticsearch


def test_demo_once_indexes_telemetry_and_prints_alerts(
    es_url: str, es: Elasticsearch, tmp_path: Path
) -> None:
    """python -m runner.demo --once exits 0 and prints at least one alert."""
    alerts_index = "runner-alerts-demo-test"
    env = {
        **os.environ,
        "ES_URL": es_url,
        "ALERTS_INDEX": alerts_index,
        "STATE_INDEX": "runner-state-demo-test",
        "RULES_DIR": str(Path(__file__).resolve().parents[2] / "rules"),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runner.demo", "--once"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        alerts = [
            line for line in done.stdout.splitlines() if line.startswith("ALERT ")
        ]
        assert len(alerts) >= 2
        assert f"{len(alerts)} alert(s) created" in done.stdout
    finally:
        es.options(ignore_status=404).indices.delete(
            index=f"{alerts_index},runner-state-demo-test"
        )

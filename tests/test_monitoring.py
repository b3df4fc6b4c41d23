"""The Prometheus alerting rules and the Grafana dashboard in deploy/: promtool's unit tests of
every alert, the dashboard's queries parsed by promtool, and every metric and label they name
exported by the app (a renamed metric breaks the build, not the on-call's pager)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bot.observability.metrics import HealthView, Metrics, OutboxBacklog
from jobs.deliver import DeliveryResult
from rules.freshness import StageLag
from rules.health import Reading
from rules.stages import Stage
from services.ingest import IngestReport

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "orderbot-alerts.yml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "orderbot-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "orderbot-dashboard.json"
# Debian's prometheus package; `make test` installs it.
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Labels Prometheus adds to every scraped series; orderbot's own `job` arrives as `exported_job`.
TARGET_LABELS = {"job", "instance"}
# The dashboard's variables, as Grafana would fill them in.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$job": "orderbot",
    "$instance": ".*",
}
METRIC_PREFIXES = ("orderbot_", "process_", "python_")
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert Path(PROMTOOL).exists(), "promtool missing: `apt-get install prometheus`"
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[tuple[str, str]]:
    """Each panel query with its legend, and each variable's query, with the variables filled
    in."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [
        (target["expr"], target.get("legendFormat", ""))
        for panel in dashboard_panels()
        for target in panel.get("targets", [])
    ]
    # Grafana's label_values(selector, label): the selector is PromQL, the label one it carries.
    variable_queries = [
        (match[1], "{{" + match[2] + "}}")
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
        and (match := re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"]))
    ]
    assert len(variable_queries) == 1  # $instance
    filled = []
    for expr, legend in queries + variable_queries:
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        filled.append((expr, legend))
    return filled


def all_queries() -> list[tuple[str, str]]:
    return [(rule["expr"], "") for rule in alert_rules()] + dashboard_queries()


def exported(exposition: str) -> set[str]:
    """Every sample name the exposition's families can have, those not yet observed included
    (a labelled counter has no sample before its first increment)."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        suffixes = SAMPLE_SUFFIXES.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
        names |= {sample.name for sample in family.samples}
    return names


def labels_by_sample() -> dict[str, set[str]]:
    """The labels of each sample name, from a registry that every public method of
    :class:`Metrics` has written to; orderbot's own `job` as Prometheus renames it."""
    metrics = Metrics(CollectorRegistry())
    metrics.job_finished("watch", 0.2, failed=True)
    metrics.job_finished("watch", 0.1, failed=False)
    metrics.orders_ingested("shop", 1, IngestReport())
    metrics.events_ingested([{"channel": "shop"}], IngestReport())
    metrics.deliveries_done(DeliveryResult(notifications=Counter({("group", "sent"): 1})))
    lag = StageLag(Stage.PAID, 20, timedelta(seconds=30), timedelta(seconds=90))
    reading = Reading("watch", "距上次超时巡检", "1分", "≤ 5分", False)
    metrics.health_read(HealthView([reading], paused=False, lags={"erp": [lag]}))
    metrics.outbox_read(OutboxBacklog(pending=1, oldest_age_seconds=3.0))
    labels: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            names = {"exported_job" if name == "job" else name for name in sample.labels}
            labels.setdefault(sample.name, set()).update(names)
    return labels


def test_promtool_finds_the_rules_valid() -> None:
    result = promtool("check", "rules", str(RULES))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_expect() -> None:
    result = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)

    assert result.returncode == 0, result.stdout + result.stderr
    # Each alert is tested both ways: quiet (before its threshold or `for:`) and firing.
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
        for case in test["alert_rule_test"]
    ]
    alerts = {rule["alert"] for rule in alert_rules()}
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == alerts
    assert quiet == alerts


def test_every_alert_says_what_happened_in_chinese_with_a_severity_and_a_runbook() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        for key in ("summary", "description", "runbook"):
            assert re.search(r"[\u4e00-\u9fff]", annotations[key]), (rule["alert"], key)
        assert annotations["runbook"].startswith("docs/monitoring.md#"), rule["alert"]


def test_every_runbook_anchor_is_a_heading_of_the_monitoring_doc() -> None:
    doc = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
    headings = {line.lstrip("#").strip().lower() for line in doc.splitlines() if line[:1] == "#"}

    for rule in alert_rules():
        anchor = rule["annotations"]["runbook"].split("#", 1)[1].split()[0]
        assert anchor in headings, rule["alert"]


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    # promtool has no query checker of its own: each query becomes a recording rule.
    rules = [
        {"record": f"orderbot_dashboard:query_{index}", "expr": expr}
        for index, (expr, _legend) in enumerate(dashboard_queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    result = promtool("check", "rules", str(path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rules) > 20


def test_the_dashboard_panels_have_unique_ids_and_read_the_chosen_data_source() -> None:
    panels = list(dashboard_panels())
    ids = [panel["id"] for panel in panels]

    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]


async def test_every_metric_the_rules_and_dashboard_read_is_on_the_apps_metrics_page(
    client: TestClient,
) -> None:
    response = await client.get("/metrics")
    assert response.status == 200
    names = exported(await response.text())

    referenced = {
        name
        for expr, _legend in all_queries()
        for name in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr)
        if name.startswith(METRIC_PREFIXES)
    }

    assert referenced - names == set()
    assert {"orderbot_job_failures_total", "orderbot_health_failing"} <= referenced


def test_every_label_the_rules_and_dashboard_read_is_one_the_metrics_carry() -> None:
    labels = labels_by_sample()
    known = set().union(*labels.values()) | TARGET_LABELS

    for expr, legend in all_queries():
        for metric, matchers in SELECTOR.findall(expr):
            allowed = labels.get(metric, set()) | TARGET_LABELS
            if metric.startswith(METRIC_PREFIXES):
                assert metric in labels, metric
            assert set(MATCHER.findall(matchers)) <= allowed, (metric, matchers)
        grouped = {name.strip() for group in GROUPING.findall(expr) for name in group.split(",")}
        assert grouped - {""} <= known, expr
        assert set(LEGEND_LABEL.findall(legend)) <= known, legend


async def test_delivery_outcomes_are_exported_as_zero_before_the_first_send(
    client: TestClient,
) -> None:
    # increase() cannot see a series' first value: a first dead letter must be a step from 0.
    response = await client.get("/metrics")
    samples = {
        (sample.name, sample.labels["target_kind"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(await response.text())
        if family.name == "orderbot_wecom_deliveries"
        for sample in family.samples
        if sample.name.endswith("_total")
    }

    assert samples == {
        ("orderbot_wecom_deliveries_total", kind, outcome): 0.0
        for kind in ("group", "user")
        for outcome in ("sent", "retry", "deferred", "dead")
    }

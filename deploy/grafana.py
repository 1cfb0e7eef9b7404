"""Grafana dashboards as code: panels and their PromQL in one place.

`vigil grafana build` writes `grafana/dashboards/*.json` (provisioned by docker-compose and
the Kubernetes ConfigMap); `vigil grafana upload --url ... --token ...` pushes them to a running
Grafana with grafana-client. Grafana itself cannot run on the development machines, so the
tests (tests/e2e/test_grafana_queries.py) run every panel query against the real Prometheus
of the local stack while the anomaly job runs, and check the committed JSON is up to date.

Metric names follow Flink's Prometheus reporter: a user counter ``vigil_x`` registered on an
operator's metric group becomes ``flink_taskmanager_job_task_operator_vigil_x``; a key/value
group ``add_group("kind", k)`` adds the label ``kind`` and the infix ``kind_``.

>>> dash = anomalies_dashboard()
>>> dash["uid"], len(dash["panels"]) > 3
('vigil-anomalies', True)
>>> all(t["expr"] for t in panel_queries(dash))
True
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from deploy.settings import REPO_ROOT
from udfs import metrics_names as M

DASHBOARD_DIR = REPO_ROOT / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "vigil-prometheus"}
OP = "flink_taskmanager_job_task_operator_"

# Query names used by several panels.
READINGS_IN = f"sum(rate({OP}{M.READINGS_IN}[1m]))"
ALERTS_BY_KIND = f"sum by (kind) (rate({OP}{M.KIND_GROUP}_{M.ALERTS}[5m])) * 60"


def _target(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def _panel(pid: int, title: str, targets: list[dict], *, kind: str = "timeseries", unit: str = "short",
           x: int = 0, y: int = 0, w: int = 12, h: int = 8, description: str = "") -> dict[str, Any]:
    refs = "ABCDEFGH"
    return {
        "id": pid, "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [dict(t, refId=refs[i]) for i, t in enumerate(targets)],
    }


def _dashboard(uid: str, title: str, panels: list[dict], annotations: list[dict] | None = None) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "tags": ["vigil"], "timezone": "utc", "schemaVersion": 39,
        "refresh": "10s", "time": {"from": "now-30m", "to": "now"}, "editable": False,
        "annotations": {"list": annotations or []}, "panels": panels, "templating": {"list": []},
    }


def anomalies_dashboard() -> dict[str, Any]:
    """Anomaly panels: alert rates by kind, score level against the threshold, alert annotations."""
    panels = [
        _panel(1, "Alerts opened per minute, by kind", [_target(ALERTS_BY_KIND, "{{kind}}")], w=12),
        _panel(2, "Latest window score vs threshold", [
            _target(f"max({OP}{M.LAST_SCORE_MILLI}) / 1000", "score (max over subtasks)"),
            _target(f"max({OP}{M.THRESHOLD_MILLI}) / 1000", "threshold"),
        ], x=12, w=12, description="Score of the most recent scored window of each scoring subtask."),
        _panel(3, "Windows scored per second", [_target(f"sum(rate({OP}{M.WINDOWS_SCORED}[1m]))", "windows/s")],
               y=8, w=8),
        _panel(4, "Alerts stored by the sidecar", [
            _target('sum by (result) (rate(vigil_sidecar_alerts_consumed_total[5m])) * 60', "{{result}}"),
        ], x=8, y=8, w=8),
        _panel(5, "Open-alert notifications sent", [
            _target('sum by (channel, result) (increase(vigil_sidecar_notifications_total[15m]))',
                    "{{channel}} {{result}}"),
        ], x=16, y=8, w=8, kind="stat"),
    ]
    annotations = [{
        "name": "anomaly alerts", "datasource": DATASOURCE, "enable": True, "iconColor": "red",
        "expr": f"sum(increase({OP}{M.KIND_GROUP}_{M.ALERTS}[1m])) > 0", "step": "60s",
        "titleFormat": "alerts opened", "textFormat": "{{kind}}",
    }]
    return _dashboard("vigil-anomalies", "Vigil — anomalies", panels, annotations)


def pipeline_dashboard() -> dict[str, Any]:
    """Pipeline health: throughput, DLQ by reason, lateness, imputation, latency, checkpoints."""
    panels = [
        _panel(1, "Readings in / valid per second", [
            _target(READINGS_IN, "in"),
            _target(f"sum(rate({OP}{M.READINGS_VALID}[1m]))", "valid"),
        ], w=12),
        _panel(2, "Dead-letter queue by reason (per minute)", [
            _target(f"sum by (reason) (rate({OP}{M.REASON_GROUP}_{M.DLQ_BY_REASON}[5m])) * 60", "{{reason}}"),
        ], x=12, w=12),
        _panel(3, "Late readings and imputed values (per second)", [
            _target(f"sum(rate({OP}{M.LATE}[1m]))", "late"),
            _target(f"sum(rate({OP}{M.IMPUTED_VALUES}[1m]))", "imputed"),
        ], y=8, w=8),
        _panel(4, "Event-to-alert latency (last alert)", [
            _target(f"max({OP}{M.LAST_EVENT_TO_ALERT_MS})", "ms"),
        ], x=8, y=8, w=8, unit="ms"),
        _panel(5, "Checkpoints: last duration and restarts", [
            _target("max(flink_jobmanager_job_lastCheckpointDuration)", "last checkpoint ms"),
            _target("max(flink_jobmanager_job_numRestarts)", "restarts"),
        ], x=16, y=8, w=8),
        _panel(6, "Sidecar request latency p99", [
            _target('histogram_quantile(0.99, sum by (le, route) (rate(vigil_sidecar_http_request_seconds_bucket[5m])))',
                    "{{route}}"),
        ], y=16, w=12, unit="s"),
        _panel(7, "Sidecar readings ingested / rejected", [
            _target('sum by (result) (rate(vigil_sidecar_readings_total[5m]))', "{{result}}"),
        ], x=12, y=16, w=12),
    ]
    return _dashboard("vigil-pipeline", "Vigil — pipeline health", panels)


def drift_dashboard() -> dict[str, Any]:
    """Model panels: live model version, score level, drift alarms."""
    panels = [
        _panel(1, "Live model version (UTC timestamp as number)", [
            _target(f"max({OP}{M.MODEL_VERSION_NUM})", "version"),
        ], kind="stat", w=8),
        _panel(2, "Score distribution level", [
            _target(f"avg({OP}{M.LAST_SCORE_MILLI}) / 1000", "avg over subtasks"),
        ], x=8, w=16),
        _panel(3, "Features over the drift limit", [
            _target(f"max({OP}{M.DRIFTED_FEATURES})", "features with PSI over the limit"),
        ], y=8, w=24),
    ]
    return _dashboard("vigil-drift", "Vigil — model and drift", panels)


DASHBOARDS = {"anomalies": anomalies_dashboard, "pipeline": pipeline_dashboard, "drift": drift_dashboard}


def panel_queries(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every PromQL target of a dashboard (panels and annotations), with its panel title."""
    for panel in dashboard["panels"]:
        for t in panel["targets"]:
            yield {"title": panel["title"], "expr": t["expr"]}
    for ann in dashboard["annotations"]["list"]:
        yield {"title": f"annotation: {ann['name']}", "expr": ann["expr"]}


def render(name: str) -> str:
    """The JSON text of one dashboard, as committed under grafana/dashboards/."""
    return json.dumps(DASHBOARDS[name](), indent=2, sort_keys=True) + "\n"


def build(out_dir: Path = DASHBOARD_DIR) -> list[Path]:
    """Write every dashboard's JSON; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in DASHBOARDS:
        path = out_dir / f"vigil-{name}.json"
        path.write_text(render(name))
        paths.append(path)
    return paths


grafana_app = typer.Typer(help="Grafana dashboards as code: build the JSON, upload to a Grafana.", no_args_is_help=True)


@grafana_app.command("build")
def build_cmd(out: Path = typer.Option(DASHBOARD_DIR, help="Output folder.")) -> None:
    """Write grafana/dashboards/*.json from the definitions in deploy/grafana.py."""
    for path in build(out):
        typer.echo(f"wrote {path}")


@grafana_app.command("upload")
def upload_cmd(
    url: str = typer.Option("http://127.0.0.1:3000", envvar="VIGIL_GRAFANA_URL", help="Grafana base URL."),
    token: str = typer.Option(..., envvar="VIGIL_GRAFANA_TOKEN", help="Grafana service-account token."),
    folder_uid: str = typer.Option("", help="Folder UID to upload into (default: General)."),
) -> None:
    """Create or overwrite the Vigil dashboards in a running Grafana (grafana-client)."""
    from grafana_client import GrafanaApi

    api = GrafanaApi.from_url(url=url, credential=token)
    for name, make in DASHBOARDS.items():
        payload = {"dashboard": make(), "overwrite": True, "message": "vigil grafana upload"}
        if folder_uid:
            payload["folderUid"] = folder_uid
        result = api.dashboard.update_dashboard(payload)
        typer.echo(f"{name}: {result.get('status', 'ok')} {result.get('url', '')}")


def register(app: typer.Typer) -> None:
    """Add `vigil grafana build|upload`."""
    app.add_typer(grafana_app, name="grafana")

"""The live page in real headless Chromium (Debian `chromium`, driven by playwright): open
alerts and the score chart load, then update over SSE without a reload. Screenshot saved to
test-artifacts/sidecar-live-page.png."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import pytest
import redis
from conftest import produce_json
from sidecar_fixtures import SidecarServer, make_alert, sidecar_env, tmp_base, wait_for

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T0 = 1_795_442_400_000


def _scores(dev: str, start: int, n: int) -> list[dict]:
    return [{"device_id": dev, "window_end_ms": T0 + (start + i) * 5000,
             "score": 0.4 + 0.2 * math.sin((start + i) / 5) + (0.5 if (start + i) % 37 == 0 else 0),
             "threshold": 0.75, "model": {"name": "iforest", "version": "v1"}} for i in range(n)]


def test_live_page_updates_over_sse(stack):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: apt-get install -y chromium (the Makefile does this)")
    from playwright.sync_api import sync_playwright

    tag = uuid.uuid4().hex[:8]
    env = sidecar_env(stack.kafka_bootstrap, stack.redis_url, tag)
    anomalies, scores = env["VIGIL_SIDECAR_ANOMALIES_TOPIC"], env["VIGIL_SIDECAR_SCORES_TOPIC"]
    stack.create_topics({anomalies: 1, scores: 1})
    sc = SidecarServer(env, tmp_base(f"browser-{tag}") / "sidecar.log")
    sc.start()
    try:
        first = [make_alert("pump-01", T0 + 60_000 * i, severity=s, score=0.8 + i / 10)
                 for i, s in enumerate(["warning", "critical"])]
        first.append(make_alert("pump-02", T0, kind="sensor_stuck", severity="info"))
        produce_json(stack.kafka_bootstrap, anomalies, first, key=lambda m: m["device_id"])
        produce_json(stack.kafka_bootstrap, scores, _scores("pump-01", 0, 120), key=lambda m: m["device_id"])
        import httpx

        wait_for(lambda: len(httpx.get(f"{sc.url}/v1/devices/pump-01?scores=500").json().get("recent_scores", [])) == 120
                 and len(httpx.get(f"{sc.url}/v1/anomalies").json()["items"]) == 3, 30, what="seed data")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{sc.url}/?device=pump-01")
            page.wait_for_selector("#conn[data-state=live]", timeout=20_000)
            page.wait_for_function("document.querySelectorAll('#alerts tbody tr').length === 3", timeout=10_000)
            page.wait_for_function("chart.points.length === 120", timeout=10_000)
            assert page.inner_text("#open-count") == "3"
            assert "critical" in page.inner_text("#alerts tbody tr:first-child")
            # live: a new alert, a close and more scores arrive over SSE, no reload
            new = make_alert("pump-03", T0 + 3_600_000, severity="critical", score=1.7)
            close = make_alert("pump-02", T0, kind="sensor_stuck", severity="info", status="closed",
                               closed_end_ms=T0 + 120_000)
            produce_json(stack.kafka_bootstrap, anomalies, [new, close], key=lambda m: m["device_id"])
            produce_json(stack.kafka_bootstrap, scores, _scores("pump-01", 120, 30), key=lambda m: m["device_id"])
            page.wait_for_function("chart.points.length === 150", timeout=20_000)
            page.wait_for_selector(f"#alerts tr[data-id='{new['alert_id']}']", timeout=20_000)
            page.wait_for_selector(f"#alerts tr[data-id='{close['alert_id']}']", state="detached", timeout=20_000)
            assert page.inner_text("#open-count") == "3"
            assert "pump-03" in page.inner_text("#log")
            # the canvas really has a drawn line (not blank)
            inked = page.evaluate("""() => { const c = document.querySelector('#chart');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 150) n++; return n; }""")
            assert inked > 200
            out = REPO / "test-artifacts" / "sidecar-live-page.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            assert out.stat().st_size > 10_000
            assert errors == []
            browser.close()
    finally:
        sc.stop()
        r = redis.Redis.from_url(stack.redis_url)
        for k in r.scan_iter(f"{env['VIGIL_SIDECAR_KEY_PREFIX']}:*"):
            r.delete(k)

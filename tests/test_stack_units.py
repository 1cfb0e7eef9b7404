"""Unit tests of the stack launcher pieces that need no running service."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from deploy import artifacts
from deploy.procs import PidRecord, ProcessRegistry, _start_ticks, tail
from deploy.services import FLINK_CONF_TEMPLATE, PROM_TEMPLATE, Prometheus, render, write_flink_conf
from deploy.settings import DEFAULT_TOPICS, REPO_ROOT, StackSettings
from deploy.stack import resolve_names
from jobs.submit import job_file


def test_settings_from_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VIGIL_KAFKA_PORT", "19092")
    monkeypatch.setenv("VIGIL_STATE_DIR", str(tmp_path))
    s = StackSettings()
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.state_dir == tmp_path
    assert s.topics == DEFAULT_TOPICS
    assert set(DEFAULT_TOPICS) >= {"sensor-readings", "sensor-readings-dlq", "anomalies", "model-drift",
                                   "vigil-events", "window-scores"}


def test_resolve_names_aliases_and_errors() -> None:
    assert resolve_names(None)[0] == "kafka"
    assert resolve_names(["flink"]) == ["flink-jobmanager", "flink-taskmanager"]
    with pytest.raises(ValueError, match="unknown service 'zookeeper'"):
        resolve_names(["zookeeper"])


def test_render_fails_on_unfilled_placeholder() -> None:
    assert render("a: {{ x }}", {"x": "1"}) == "a: 1"
    with pytest.raises(ValueError, match="unfilled placeholder"):
        render("a: {{ x }} b: {{ y }}", {"x": "1"})


def test_flink_conf_template_is_flat_yaml() -> None:
    # The launcher overrides keys one by one: nested maps would silently shadow them.
    cfg = yaml.safe_load((FLINK_CONF_TEMPLATE / "config.yaml").read_text())
    assert all(not isinstance(v, dict) for v in cfg.values())
    assert cfg["metrics.reporter.prom.factory.class"].endswith("PrometheusReporterFactory")
    assert (artifacts.flink_home() / "plugins" / "metrics-prometheus").is_dir()


def test_generated_flink_conf_and_lib(tmp_path) -> None:
    s = StackSettings(state_dir=tmp_path, flink_rest_port=18081, flink_slots=3)
    conf = write_flink_conf(s)
    cfg = yaml.safe_load((conf / "config.yaml").read_text())
    assert cfg["rest.port"] == 18081
    assert cfg["taskmanager.numberOfTaskSlots"] == 3
    assert cfg["python.executable"] == s.python
    assert cfg["execution.checkpointing.savepoint-dir"] == (tmp_path / "flink" / "savepoints").as_uri()
    assert (conf / "log4j-console.properties").exists()
    lib = tmp_path / "flink" / "lib"
    names = {p.name for p in lib.iterdir()}
    assert f"flink-sql-connector-kafka-{artifacts.connector_version()}.jar" in names
    assert any(n.startswith("flink-dist") for n in names)
    assert any(n.startswith("zstd-jni-") for n in names)  # the connector does not bundle it
    write_flink_conf(s)  # idempotent
    assert {p.name for p in lib.iterdir()} == names


def test_prometheus_config_scrapes_flink_range_and_sidecar(tmp_path) -> None:
    s = StackSettings(state_dir=tmp_path, flink_metrics_ports="9300-9302", sidecar_port=8123)
    p = Prometheus(s)
    p.dir.mkdir(parents=True)
    p.prepare()
    cfg = yaml.safe_load((p.dir / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
    assert jobs["flink"] == ["127.0.0.1:9300", "127.0.0.1:9301", "127.0.0.1:9302"]
    assert jobs["vigil-sidecar"] == ["127.0.0.1:8123"]
    assert "{{" not in PROM_TEMPLATE.read_text().split("scrape_configs")[0]


def test_pom_pins_versions() -> None:
    import re

    assert artifacts.kafka_version().startswith("4.")
    pyflink = re.search(r'"apache-flink==([0-9.]+)"', (REPO_ROOT / "pyproject.toml").read_text()).group(1)
    minor = ".".join(pyflink.split(".")[:2])
    assert artifacts.connector_version().endswith(f"-{minor}")  # the connector built for this Flink
    assert artifacts.pom_property("flink.version", artifacts.JVM_MODULE / "pom.xml") == pyflink


def test_registry_starts_recognises_and_stops_own_process(tmp_path) -> None:
    reg = ProcessRegistry(tmp_path / "run")
    rec = reg.start("sleeper", ["sleep", "300"], log=tmp_path / "sleeper.log", token="sleep 300")
    assert reg.get("sleeper") is not None and rec.is_ours()
    assert os.getpgid(rec.pid) == rec.pid  # own session: survives the CLI, stoppable as a group
    assert reg.stop("sleeper", timeout_s=5)
    assert _start_ticks(rec.pid) is None or not rec.is_ours()
    assert reg.get("sleeper") is None and not (tmp_path / "run" / "sleeper.json").exists()
    assert "starting sleeper" in tail(tmp_path / "sleeper.log")


def test_registry_never_signals_a_foreign_pid(tmp_path) -> None:
    reg = ProcessRegistry(tmp_path / "run")
    victim = subprocess.Popen(["sleep", "300"])
    try:
        ticks = _start_ticks(victim.pid)
        assert ticks is not None
        import json

        (tmp_path / "run").mkdir()
        # Same pid, wrong start time: a recycled pid must not count as ours.
        (tmp_path / "run" / "a.json").write_text(json.dumps(
            {"name": "a", "pid": victim.pid, "start_ticks": ticks + 1, "token": "sleep", "log": ""}))
        # Same pid and start time but not our command line.
        (tmp_path / "run" / "b.json").write_text(json.dumps(
            {"name": "b", "pid": victim.pid, "start_ticks": ticks, "token": "kafka.Kafka", "log": ""}))
        assert reg.stop("a") is False and reg.stop("b") is False
        time.sleep(0.2)
        assert victim.poll() is None, "a process we did not start was signalled"
    finally:
        victim.kill()
        victim.wait()


def test_pid_record_of_dead_process_is_not_ours() -> None:
    p = subprocess.Popen(["true"])
    p.wait()
    assert not PidRecord("x", p.pid, 0, "true", "").is_ours()


def test_job_file_resolution(tmp_path) -> None:
    assert job_file("passthrough") == Path(__file__).resolve().parents[1] / "jobs" / "passthrough_job.py"
    custom = tmp_path / "my_job.py"
    custom.write_text("print('hi')\n")
    assert job_file(str(custom)) == custom
    with pytest.raises(FileNotFoundError, match="known jobs"):
        job_file("nope")


def _module_copy(tmp_path):
    """A copy of the Maven module (pom + main sources) to edit."""
    import shutil

    mod = tmp_path / "jvm"
    shutil.copytree(artifacts.JVM_MODULE / "src" / "main", mod / "src" / "main")
    shutil.copy(artifacts.JVM_MODULE / "pom.xml", mod / "pom.xml")
    return mod


def test_jvm_ops_jar_builds_once_per_source_version(tmp_path) -> None:
    import zipfile

    jar = artifacts.jvm_ops_jar()
    names = zipfile.ZipFile(jar).namelist()
    assert "vigil/flink/job/Topology.class" in names
    assert any(n.startswith("vigil/shaded/jackson/") for n in names)  # Jackson shaded in
    assert not any(n.startswith("org/apache/flink/") for n in names)  # Flink provided, not bundled
    built = jar.stat().st_mtime_ns
    assert artifacts.jvm_ops_jar() == jar and jar.stat().st_mtime_ns == built  # cached
    # an edited source is a new jar, never the stale one
    mod = _module_copy(tmp_path)
    f = mod / "src" / "main" / "java" / "vigil" / "flink" / "job" / "Records.java"
    f.write_text(f.read_text() + "\n// edited\n")
    other = artifacts.jvm_ops_jar(tmp_path / "cache", module=mod)
    assert other != jar and other.exists()


def test_jvm_ops_jar_reports_compile_errors(tmp_path) -> None:
    mod = _module_copy(tmp_path)
    (mod / "src" / "main" / "java" / "Broken.java").write_text("class Broken { int x = ; }\n")
    with pytest.raises(RuntimeError, match="Maven failed"):
        artifacts.jvm_ops_jar(tmp_path / "cache", module=mod)


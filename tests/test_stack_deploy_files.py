"""docker-compose.yaml, the Dockerfiles and the Kubernetes manifests, checked without Docker.

There is no Docker engine here and the compose plugin is missing (`docker compose` is an
unknown command), so: when the plugin exists, ``docker compose config`` must accept the file;
always, the file must validate against the Compose Specification JSON schema
(tests/stack_data/compose-spec.json, see its ``$comment``) and pass referential checks —
every build context / Dockerfile / bind-mounted path exists, every dependency and named
volume is defined, every Dockerfile COPY source exists. Kubernetes manifests: every document
loads, has apiVersion/kind/metadata.name, selectors match pod labels, and every referenced
PVC / ConfigMap / Service exists.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from deploy import artifacts
from deploy.container import parse_properties, write_conf

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
K8S = REPO / "deploy" / "k8s"
DOCKER = REPO / "deploy" / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_matches_the_compose_spec_schema(compose) -> None:
    schema = json.loads((REPO / "tests" / "stack_data" / "compose-spec.json").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="docker compose plugin not installed (the schema test above covers the file)",
)
def test_docker_compose_config_accepts_the_file() -> None:
    proc = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_compose_references_resolve(compose) -> None:
    services = compose["services"]
    volumes = set(compose.get("volumes") or {})
    expected = {"kafka", "jobmanager", "taskmanager", "job-submitter", "redis", "prometheus", "grafana",
                "sidecar", "trainer"}
    assert expected <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        build = svc.get("build")
        if build:
            ctx = REPO / build["context"]
            assert ctx.is_dir(), f"{name}: build context {ctx}"
            assert (ctx / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']}"
        deps = svc.get("depends_on") or {}
        for dep in deps:
            assert dep in services, f"{name} depends on undefined {dep}"
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0]
            if src.startswith((".", "/")):
                assert (REPO / src).exists(), f"{name}: bind mount {src} missing"
            else:
                assert src in volumes, f"{name}: named volume {src} not declared"
    # Built images that other services only reference by tag must be built by some service.
    built = {s["image"] for s in services.values() if "build" in s and "image" in s}
    for name, svc in services.items():
        if "build" not in svc and str(svc.get("image", "")).startswith("vigil-"):
            assert svc["image"] in built, f"{name} uses {svc['image']} which no service builds"


def test_compose_wires_grafana_prometheus_and_flink_conf(compose) -> None:
    graf = compose["services"]["grafana"]["volumes"]
    assert any(v.startswith("./grafana/provisioning:") for v in graf)
    assert any(v.startswith("./grafana/dashboards:") for v in graf)
    prom = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.docker.yml").read_text())
    targets = {t for j in prom["scrape_configs"] for c in j["static_configs"] for t in c["targets"]}
    assert {"jobmanager:9249", "taskmanager:9249", "sidecar:8000"} <= targets
    props = parse_properties(compose["services"]["jobmanager"]["environment"]["FLINK_PROPERTIES"])
    assert props["jobmanager.rpc.address"] == "jobmanager"
    assert compose["services"]["trainer"].get("image") == "vigil-trainer:latest"


def test_dockerfiles_copy_existing_paths_and_pin_the_connector() -> None:
    for df in DOCKER.glob("*.Dockerfile"):
        for line in df.read_text().splitlines():
            m = re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line.strip())
            if m:
                for src in m.group(1).split():
                    assert (REPO / src).exists(), f"{df.name}: COPY source {src} missing"
    flink = (DOCKER / "flink.Dockerfile").read_text()
    assert f"ARG CONNECTOR_VERSION={artifacts.connector_version()}" in flink
    assert f"ARG ZSTD_VERSION={artifacts.pom_property('zstd.version')}" in flink
    assert "ENTRYPOINT" in (DOCKER / "trainer.Dockerfile").read_text()
    assert '["vigil", "retrain"]' in (DOCKER / "trainer.Dockerfile").read_text()
    assert '["vigil", "sidecar"]' in (DOCKER / "sidecar.Dockerfile").read_text()


def test_container_conf_merges_flink_properties(tmp_path) -> None:
    conf = write_conf(REPO / "flink-conf", tmp_path / "conf", "jobmanager.rpc.address: jm\nrest.port: 18081\n")
    cfg = yaml.safe_load((conf / "config.yaml").read_text())
    assert cfg["jobmanager.rpc.address"] == "jm" and cfg["rest.port"] == 18081
    assert cfg["taskmanager.numberOfTaskSlots"] >= 2
    with pytest.raises(ValueError, match="without ':'"):
        parse_properties("oops")


def _k8s_docs() -> list[dict]:
    docs = []
    for f in sorted(K8S.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                d["_file"] = f.name
                docs.append(d)
    return docs


def _pod_specs(doc: dict) -> list[tuple[dict, dict]]:
    """(pod metadata labels, pod spec) of a workload document."""
    kind, spec = doc["kind"], doc.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "Job"):
        tpl = spec["template"]
    elif kind == "CronJob":
        tpl = spec["jobTemplate"]["spec"]["template"]
    else:
        return []
    return [(tpl.get("metadata", {}).get("labels", {}), tpl["spec"])]


def test_kubernetes_manifests_are_consistent() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (K8S / res).is_file(), res
    docs = _k8s_docs()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "PersistentVolumeClaim", "CronJob", "Job"} <= kinds
    by_kind: dict[str, set[str]] = {}
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), d["_file"]
        by_kind.setdefault(d["kind"], set()).add(d["metadata"]["name"])
    pod_labels = []
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            sel = d["spec"]["selector"]["matchLabels"]
            labels = d["spec"]["template"]["metadata"]["labels"]
            assert sel.items() <= labels.items(), f"{d['metadata']['name']}: selector does not match labels"
        for labels, pod in _pod_specs(d):
            pod_labels.append(labels)
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                assert c.get("name") and c.get("image"), d["metadata"]["name"]
                for ef in c.get("envFrom", []):
                    assert ef["configMapRef"]["name"] in by_kind["ConfigMap"]
            for v in pod.get("volumes", []):
                if "persistentVolumeClaim" in v:
                    assert v["persistentVolumeClaim"]["claimName"] in by_kind["PersistentVolumeClaim"]
                if "configMap" in v:
                    assert v["configMap"]["name"] in by_kind["ConfigMap"]
            mounts = {m["name"] for c in pod.get("containers", []) + pod.get("initContainers", [])
                      for m in c.get("volumeMounts", [])}
            declared = {v["name"] for v in pod.get("volumes", [])}
            claim_templates = {t["metadata"]["name"] for t in d["spec"].get("volumeClaimTemplates", [])}
            assert mounts <= declared | claim_templates, f"{d['metadata']['name']}: undeclared volume"
    for d in docs:
        if d["kind"] == "Service":
            sel = d["spec"]["selector"]
            assert any(sel.items() <= lab.items() for lab in pod_labels), f"service {d['metadata']['name']} selects nothing"
    assert "vigil-retrain" in by_kind["CronJob"]
    # Hosts the pods talk to are Services of the manifests.
    text = "\n".join(f.read_text() for f in K8S.glob("*.yaml"))
    for host in ("kafka", "redis", "flink-jobmanager", "vigil-sidecar", "flink-taskmanager-metrics"):
        assert host in by_kind["Service"]
        assert host in text


def test_the_archive_is_written_and_compacted_before_retraining_in_both_deployments() -> None:
    """The job archives to the shared volume, the Flink pods can write it, and retraining first
    compacts it (in the same run, so compaction never races the reader)."""
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    submit = compose["services"]["job-submitter"]["command"]
    assert submit[submit.index("--archive-path") + 1] == "/opt/vigil/archive"
    trainer = " ".join(compose["services"]["trainer"]["command"])
    assert trainer.index("vigil archive compact /opt/vigil/archive") < trainer.index("vigil retrain --archive")
    assert "archive:/opt/vigil/archive" in compose["services"]["trainer"]["volumes"]
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _k8s_docs()}
    job = docs[("Job", "vigil-submit")]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert job[job.index("--archive-path") + 1] == "/opt/vigil/archive"
    for name in ("flink-taskmanager", "flink-jobmanager"):
        pod = docs[("Deployment", name)]["spec"]["template"]["spec"]
        assert {"name": "archive", "mountPath": "/opt/vigil/archive"} in pod["containers"][0]["volumeMounts"]
    cron = docs[("CronJob", "vigil-retrain")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    args = " ".join(cron["args"])
    assert args.index("vigil archive compact /opt/vigil/archive") < args.index("vigil retrain --archive")
    assert not any(m.get("readOnly") for m in cron["volumeMounts"] if m["name"] == "archive")
    assert "parquet_cache_dir" in (DOCKER / "flink.Dockerfile").read_text()  # jars baked in: no Maven there

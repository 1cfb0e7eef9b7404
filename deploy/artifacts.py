"""Everything the stack runs that is not in the venv: Kafka jars, the Flink Kafka connector
(both resolved by Maven from ``deploy/kafka/pom.xml`` into a cache outside the repo) and the
Debian ``redis-server`` / ``prometheus`` packages. Also where the wheel's Flink lives.

Fails with :class:`MissingTool` naming the command to run when Java, Maven or apt are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

from deploy.settings import REPO_ROOT

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
PARQUET_POM = REPO_ROOT / "deploy" / "parquet" / "pom.xml"
_MVN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
CONNECTOR_ARTIFACT = "flink-sql-connector-kafka"


class MissingTool(RuntimeError):
    """A system tool the stack needs is missing and cannot be installed automatically."""


def pom_property(name: str, pom: Path = POM) -> str:
    """A ``<properties>`` value of a pom (deploy/kafka/pom.xml by default: the single place the
    stack's versions are pinned; deploy/parquet/pom.xml pins the archive's Parquet jars).

    >>> pom_property("kafka.version"), pom_property("hadoop.version", PARQUET_POM)
    ('4.1.1', '2.10.2')
    """
    root = ET.parse(pom).getroot()
    el = root.find(f"m:properties/m:{name}", _MVN_NS)
    if el is None or not (el.text or "").strip():
        raise KeyError(f"property {name} not in {pom}")
    return el.text.strip()


def kafka_version() -> str:
    """Pinned Kafka broker version."""
    return pom_property("kafka.version")


def connector_version() -> str:
    """Pinned ``org.apache.flink:flink-sql-connector-kafka`` version (pairs with apache-flink)."""
    return pom_property("flink.kafka.connector.version")


def _cache(cache_dir: Path | None) -> Path:
    """``cache_dir``, or the stack's cache folder (``VIGIL_CACHE_DIR``) when None."""
    if cache_dir is None:
        from deploy.settings import StackSettings

        return StackSettings().cache_dir
    return cache_dir


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _mvn(args: list[str], what: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingTool("Maven (mvn) is required to fetch the stack's jars: apt-get install -y maven")
    if shutil.which("java") is None:
        raise MissingTool("Java 17 is required: apt-get install -y openjdk-17-jre-headless")
    _say(f"[vigil] building/fetching {what} with Maven (first run only; may take a minute) ...")
    proc = subprocess.run([mvn, "-B", "-q", *args], capture_output=True, text=True)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"Maven failed on {what}:\n{(proc.stdout + proc.stderr)[-4000:]}")


def _maven_deps_dir(pom: Path, out: Path, what: str, must_have: str, *extra: str) -> Path:
    """``mvn dependency:copy-dependencies`` of ``pom`` into ``out`` (once: a ``.complete``
    marker says it is whole). Concurrent first calls are safe: each resolves into its own
    temporary folder and the first rename wins. ``must_have`` is a glob the result must match."""
    if (out / ".complete").exists():
        return out
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    _mvn(["-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={tmp}",
          "-DincludeScope=runtime", *extra], what)
    if not any(tmp.glob(must_have)):
        raise RuntimeError(f"Maven finished but no {must_have} in {tmp}")
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(out)
    except OSError:  # another process finished first: use its folder
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def kafka_jars_dir(cache_dir: Path) -> Path:
    """Folder with the Kafka broker jars (classpath ``<dir>/*``); resolved by Maven on first use."""
    return _maven_deps_dir(POM, cache_dir / f"kafka-{kafka_version()}", f"Kafka {kafka_version()} jars",
                           "kafka_2.13-*.jar", f"-DexcludeArtifactIds={CONNECTOR_ARTIFACT}")


def _maven_jar(cache_dir: Path, group: str, artifact: str, version: str, label: str) -> Path:
    """One jar from Maven Central into ``<cache>/flink-connectors`` (once; cached afterwards)."""
    out = cache_dir / "flink-connectors"
    jar = out / f"{artifact}-{version}.jar"
    if jar.exists():
        return jar
    out.mkdir(parents=True, exist_ok=True)
    _mvn(
        ["-f", str(POM), "dependency:copy", f"-Dartifact={group}:{artifact}:{version}:jar",
         f"-DoutputDirectory={out}"],
        f"{label} {version}",
    )
    if not jar.exists():
        raise RuntimeError(f"Maven finished but {jar} is missing")
    return jar


def connector_jar(cache_dir: Path | None = None) -> Path:
    """Path of the Flink Kafka connector jar (fetched by Maven into the cache on first use).

    Put it on a local MiniCluster's classpath with ``env.add_jars(connector_jar().as_uri())``;
    the stack's cluster already has it in its lib folder.
    """
    cache_dir = _cache(cache_dir)
    return _maven_jar(cache_dir, "org.apache.flink", CONNECTOR_ARTIFACT, connector_version(),
                      "Flink Kafka connector")


def zstd_jar(cache_dir: Path) -> Path:
    """``com.github.luben:zstd-jni`` for Flink's classpath (the SQL connector does not bundle it,
    so zstd-compressed topics, e.g. from the simulator, would fail to decode)."""
    return _maven_jar(cache_dir, "com.github.luben", "zstd-jni", pom_property("zstd.version"), "zstd-jni")


def parquet_cache_dir(cache_dir: Path | None = None) -> Path:
    """Where :func:`parquet_jars` keeps them: ``<cache>/flink-parquet-<flink>-hadoop-<hadoop>``
    (the Flink image pre-fills it at build time)."""
    return _cache(cache_dir) / (f"flink-parquet-{pom_property('flink.version', PARQUET_POM)}"
                                f"-hadoop-{pom_property('hadoop.version', PARQUET_POM)}")


def parquet_jars(cache_dir: Path | None = None) -> list[Path]:
    """The jars Flink's ``format = 'parquet'`` needs (flink-parquet + parquet-hadoop + the few
    Hadoop classes its writer loads; pinned in deploy/parquet/pom.xml), fetched by Maven into
    :func:`parquet_cache_dir` on first use."""
    out = parquet_cache_dir(cache_dir)
    _maven_deps_dir(PARQUET_POM, out, "Flink Parquet format jars", "flink-parquet-*.jar")
    return sorted(out.glob("*.jar"))


JVM_MODULE = REPO_ROOT / "jobs" / "jvm"


def jvm_sources_digest(module: Path = JVM_MODULE) -> str:
    """Hash of the Maven module's pom and main sources (what the jar is built from)."""
    import hashlib

    digest = hashlib.sha256()
    for src in [module / "pom.xml", *sorted((module / "src" / "main").rglob("*"))]:
        if src.is_file():
            digest.update(src.relative_to(module).as_posix().encode() + b"\0" + src.read_bytes())
    return digest.hexdigest()[:16]


def jvm_ops_jar(cache_dir: Path | None = None, module: Path = JVM_MODULE) -> Path:
    """The job's JVM operators (the Maven module ``jobs/jvm``: parse/validate, device windows,
    alert policy; Jackson and Commons Numbers shaded in), built with Maven into
    ``<cache>/vigil-flink-ops-<hash>.jar``; the job adds it to ``pipeline.jars`` (client
    planning, shipped with the job graph) and the Flink image bakes it in.

    The hash covers the pom and the main sources, so an edited source builds a new jar and a
    stale one is never used; the build runs once (``mvn package``, tests skipped: ``make test``
    runs them). Concurrent first calls are safe (a lock file serialises the build).
    ``VIGIL_JVM_OPS_JAR`` names a jar built elsewhere from the same sources (the Flink image
    builds it in its Maven stage). Fails with :class:`MissingTool` when Maven or a JDK is
    missing, RuntimeError with Maven's output when the module does not build.
    """
    import fcntl

    prebuilt = os.environ.get("VIGIL_JVM_OPS_JAR")
    if prebuilt and Path(prebuilt).is_file():
        return Path(prebuilt)
    out = _cache(cache_dir) / f"vigil-flink-ops-{jvm_sources_digest(module)}.jar"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("javac") is None:
        raise MissingTool("a JDK (javac) is required to build the job's JVM operators (jobs/jvm): "
                          "apt-get install -y openjdk-17-jdk-headless")
    with open(out.parent / ".vigil-flink-ops.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():  # built by another process meanwhile
            return out
        _mvn(["-f", str(module / "pom.xml"), "-DskipTests", "package"], "the job's JVM operators (jobs/jvm)")
        built = sorted((module / "target").glob("vigil-flink-ops-*.jar"))
        built = [j for j in built if not j.name.startswith("original-")]
        if not built:
            raise RuntimeError(f"Maven finished but no vigil-flink-ops jar in {module / 'target'}")
        part = out.with_suffix(".part")
        shutil.copyfile(built[0], part)
        part.replace(out)
    return out


def flink_extra_jars(cache_dir: Path) -> list[Path]:
    """Jars the stack adds to the wheel's Flink lib/: the Kafka connector and zstd-jni.

    flink-python stays out of lib/, so jobs run Python in process mode: with it in lib/ thread
    mode becomes available, but after the job's state fixes it measured no faster here (2,990
    vs 3,241 readings/s, docs/job.md), and earlier a Python metric gauge read by the Prometheus
    reporter after its job's interpreter was gone crashed the TaskManager (SIGSEGV in
    ``take_gil``; the job now uses counters instead).
    """
    return [connector_jar(cache_dir), zstd_jar(cache_dir)]


@cache
def flink_home() -> Path:
    """The Flink distribution inside the apache-flink wheel (``.../site-packages/pyflink``)."""
    import importlib.util

    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise MissingTool("apache-flink is not installed in this Python environment")
    return Path(spec.origin).parent


def flink_bin(name: str = "flink") -> Path:
    """A script of the wheel's Flink ``bin/`` folder (``flink``, ``jobmanager.sh`` ...)."""
    return flink_home() / "bin" / name


def ensure_apt(binary: str, package: str) -> str:
    """Path of ``binary``; installs Debian ``package`` with apt-get when it is missing."""
    found = shutil.which(binary) or (f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise MissingTool(f"{binary} is missing and apt-get is not available: install {package}")
    cmd = [apt, "install", "-y", "--no-install-recommends", package]
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            raise MissingTool(f"{binary} is missing; run as root: apt-get install -y {package}")
        cmd = [sudo, "-n", *cmd]
    _say(f"[vigil stack] installing {package} with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)  # noqa: S603
    if proc.returncode != 0:
        # An outdated package index is the usual cause on a fresh machine.
        update = [*cmd[: cmd.index(apt) + 1], "update"]
        subprocess.run(update, capture_output=True, env=env)  # noqa: S603
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)  # noqa: S603
    if proc.returncode != 0:
        raise MissingTool(f"apt-get install {package} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    found = shutil.which(binary) or f"/usr/bin/{binary}"
    if not Path(found).exists():
        raise MissingTool(f"{package} installed but {binary} not found")
    return found

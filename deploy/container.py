"""Container entry point for the Flink image: ``python -m deploy.container jobmanager|taskmanager``.

Builds the Flink configuration from the repo's ``flink-conf/`` (copied into the image) plus
``FLINK_PROPERTIES`` (``key: value`` lines, as with the official Flink images — docker-compose
and Kubernetes set the container addresses that way), then execs the wheel's
``jobmanager.sh`` / ``taskmanager.sh start-foreground``: the same distribution and the same
configuration as the local stack.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import yaml

from deploy.artifacts import flink_bin


def parse_properties(text: str) -> dict[str, object]:
    """``FLINK_PROPERTIES`` lines (``key: value``) → dict; blank lines and ``#`` comments skipped.

    >>> parse_properties("jobmanager.rpc.address: jobmanager\\ntaskmanager.numberOfTaskSlots: 4")
    {'jobmanager.rpc.address': 'jobmanager', 'taskmanager.numberOfTaskSlots': 4}
    """
    out: dict[str, object] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"FLINK_PROPERTIES line without ':': {line!r}")
        out[key.strip()] = yaml.safe_load(value.strip()) if value.strip() else ""
    return out


def write_conf(src: Path, dst: Path, properties: str) -> Path:
    """Copy ``src`` (flink-conf/) to ``dst`` with ``properties`` merged into config.yaml."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copyfile(f, dst / f.name)
    cfg = yaml.safe_load((src / "config.yaml").read_text()) or {}
    cfg.update(parse_properties(properties))
    (dst / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, width=10_000))
    return dst


def main(argv: list[str] | None = None) -> None:
    """Write the conf and exec the Flink role in the foreground."""
    args = argv if argv is not None else sys.argv[1:]
    if not args or args[0] not in ("jobmanager", "taskmanager"):
        raise SystemExit("usage: python -m deploy.container jobmanager|taskmanager")
    role = args[0]
    src = Path(os.environ.get("VIGIL_FLINK_CONF_TEMPLATE", "/opt/vigil/flink-conf"))
    dst = Path(os.environ.get("FLINK_CONF_DIR", "/tmp/flink-conf"))
    write_conf(src, dst, os.environ.get("FLINK_PROPERTIES", ""))
    env = dict(os.environ, FLINK_CONF_DIR=str(dst))
    script = str(flink_bin(f"{role}.sh"))
    os.execvpe("bash", ["bash", script, "start-foreground", *args[1:]], env)


if __name__ == "__main__":
    main()

"""The JVM operators' logic as a subprocess (``vigil.flink.tools.Reference``): one JSON command
per line in, one JSON answer per line out, so generated streams go through the Java code and
the Python reference in the same test without a Flink cluster around either."""

from __future__ import annotations

import json
import subprocess
from typing import Any


class JvmReference:
    """A running ``java -cp <ops jar>:<flink lib>/* vigil.flink.tools.Reference``."""

    def __init__(self) -> None:
        from deploy.artifacts import flink_home, jvm_ops_jar

        cp = f"{jvm_ops_jar()}:{flink_home() / 'lib'}/*"
        self.proc = subprocess.Popen(["java", "-Xss8m", "-cp", cp, "vigil.flink.tools.Reference"],  # noqa: S603, S607
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def call(self, op: str, **kw: Any) -> Any:
        """Send one command; returns the decoded answer (raises on an ``error`` answer)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the JVM reference exited (code {self.proc.poll()})")
        out = json.loads(line)
        if isinstance(out, dict) and "error" in out:
            raise RuntimeError(f"JVM reference failed on {op}: {out['error']}")
        return out

    def close(self) -> None:
        try:
            self.call("quit")
        except Exception:  # noqa: BLE001 - it quits without answering
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


__all__ = ["JvmReference"]

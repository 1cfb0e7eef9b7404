"""Model bundles: ``models/<name>/<version>/{model.onnx, manifest.json, reference_stats.json}``.

This module READS bundles (the job, replay, the sidecar); ``training/bundle.py`` writes them.

Threshold convention: ``thresholds.global`` / ``per_device`` are in the ORIENTED score space
that :class:`udfs.scorer.Scorer` returns (higher = more anomalous; for a
``lower_is_anomalous`` model that is the negated raw output). ``reference_stats["scores"]``
uses the same oriented space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from udfs.features import FeatureSpec

BundleKind = Literal["zscore", "iforest", "ocsvm", "kmeans", "autoencoder", "lstm_autoencoder"]
MANIFEST = "manifest.json"
MODEL = "model.onnx"
REFERENCE = "reference_stats.json"
PROMOTED = "PROMOTED"


class BundleError(ValueError):
    """A bundle path that is missing, incomplete or inconsistent (message says which)."""


class InputSpec(BaseModel):
    name: str
    kind: Literal["features", "sequence"]
    shape: list[int | str | None] = Field(default_factory=list)  # e.g. [null, 48] or ["batch", 60, 8]


class OutputSpec(BaseModel):
    name: str


class Thresholds(BaseModel):
    """Calibrated thresholds in the ORIENTED score space; ``global`` is the on-disk key.

    >>> Thresholds.model_validate({"global": 0.7, "per_device": {"p1": 0.9}}).for_device("p2")
    0.7
    """

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    global_: float | None = Field(default=None, alias="global")
    per_device: dict[str, float] = Field(default_factory=dict)
    method: str = ""
    target_false_alarm_rate: float | None = None

    def for_device(self, device_id: str) -> float | None:
        """Per-device threshold if calibrated for this device, else the global one."""
        return self.per_device.get(device_id, self.global_)


class TrainingInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    fingerprint: str = ""
    rows: int = 0
    source: str = ""


class Manifest(BaseModel):
    """``manifest.json`` of a bundle. Unknown extra keys are kept (forward compatible).

    Assumes thresholds are in the oriented score space (see module doc). Fails with
    pydantic's ValidationError on a missing/ill-typed field.

    >>> m = Manifest.model_validate({"name": "iforest", "version": "v1", "kind": "iforest",
    ...     "created_at": "2026-11-23T13:55:02Z",
    ...     "feature_spec": {"sensors": ["a"], "window": 10, "slide": 1, "per_sensor": ["mean"]},
    ...     "input": {"name": "x", "kind": "features", "shape": [None, 1]},
    ...     "output": {"name": "score"}, "score_direction": "lower_is_anomalous",
    ...     "thresholds": {"global": -0.1, "per_device": {"p1": -0.2}}})
    >>> m.thresholds.for_device("p1"), m.thresholds.for_device("p2")
    (-0.2, -0.1)
    >>> m.manifest_json()["thresholds"]["global"]
    -0.1
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str
    version: str
    kind: BundleKind
    created_at: str = ""
    feature_spec: FeatureSpec
    input: InputSpec
    output: OutputSpec
    score_direction: Literal["higher_is_anomalous", "lower_is_anomalous"] = "higher_is_anomalous"
    thresholds: Thresholds = Field(default_factory=Thresholds)
    training: TrainingInfo = Field(default_factory=TrainingInfo)
    metrics: dict[str, Any] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=dict)

    def manifest_json(self) -> dict[str, Any]:
        """JSON-ready dict with the on-disk key names (``thresholds.global``)."""
        return self.model_dump(mode="json", by_alias=True)


@dataclass
class Bundle:
    """A loaded bundle: manifest, path of ``model.onnx``, reference statistics (may be ``{}``).

    Made by :func:`load_bundle`, which validated the files and the feature spec; a hand-built
    Bundle is trusted as is (the Scorer still checks the graph's input/output names).
    """

    manifest: Manifest
    model_path: Path
    reference_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.model_path.parent

    @property
    def version(self) -> str:
        return self.manifest.version

    def threshold_for(self, device_id: str) -> float | None:
        return self.manifest.thresholds.for_device(device_id)


def resolve_bundle_dir(path: str | Path) -> Path:
    """A version dir (has ``manifest.json``) as is; a model dir → the version named in its
    ``PROMOTED`` file, else the newest version (by manifest ``created_at``, then name).
    A path to ``model.onnx``/``manifest.json`` means its folder."""
    p = Path(path)
    if p.is_file() and p.name in (MODEL, MANIFEST):
        p = p.parent
    if not p.exists():
        raise BundleError(f"bundle path {p} does not exist")
    if (p / MANIFEST).is_file():
        return p
    promoted = p / PROMOTED
    if promoted.is_file():
        name = promoted.read_text().strip()
        target = p / name
        if not (target / MANIFEST).is_file():
            raise BundleError(f"{promoted} names version {name!r}, but {target / MANIFEST} is missing")
        return target
    versions = [d for d in p.iterdir() if d.is_dir() and (d / MANIFEST).is_file()]
    if not versions:
        raise BundleError(f"{p} holds no bundle (no {MANIFEST} in it or in any sub-folder)")

    def key(d: Path) -> tuple[str, str]:
        try:
            created = str(json.loads((d / MANIFEST).read_text()).get("created_at", ""))
        except (OSError, ValueError):
            created = ""
        return created, d.name

    return max(versions, key=key)


def load_bundle(path: str | Path) -> Bundle:
    """Load a bundle (see :func:`resolve_bundle_dir` for accepted paths); validate the manifest
    and that this build can compute its feature spec (raises ``UnsupportedFeatureSpec``)."""
    d = resolve_bundle_dir(path)
    try:
        manifest = Manifest.model_validate_json((d / MANIFEST).read_bytes())
    except ValueError as e:
        raise BundleError(f"{d / MANIFEST}: invalid manifest: {e}") from e
    model = d / MODEL
    if not model.is_file():
        raise BundleError(f"{model} is missing")
    ref_path = d / REFERENCE
    ref = json.loads(ref_path.read_text()) if ref_path.is_file() else {}
    manifest.feature_spec.check_supported()
    return Bundle(manifest=manifest, model_path=model, reference_stats=ref)

"""Dense autoencoder on feature vectors (PyTorch, CPU) → ONNX.

The module holds the training mean/std as buffers and its forward returns the mean squared
reconstruction error per row, so the exported graph takes RAW features and outputs the score.

Assumptions: a few thousand rows at most per epoch (demo data); features with zero variance are
scaled by 1. Fails with ``ValueError`` on non-finite input.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
>>> det = AutoencoderDetector(epochs=3).fit(x, seed=0)
>>> det.score(x[:3]).shape
(3,)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from training.models.base import Detector


def build_module(n_in: int, hidden: int, bottleneck: int, mean: np.ndarray, std: np.ndarray) -> Any:
    """The torch module: normalise → encoder → decoder → per-row MSE."""
    import torch
    from torch import nn

    class DenseAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
            self.net = nn.Sequential(
                nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, bottleneck), nn.ReLU(),
                nn.Linear(bottleneck, hidden), nn.ReLU(), nn.Linear(hidden, n_in),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = (x - self.mean) / self.std
            return ((self.net(z) - z) ** 2).mean(dim=1)

    return DenseAE()


class AutoencoderDetector(Detector):
    """Dense autoencoder; score = mean squared reconstruction error of standardised features."""

    kind: ClassVar[str] = "autoencoder"
    parity_rtol: ClassVar[float] = 1e-4

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"hidden": 32, "bottleneck": 8, "epochs": 30, "batch_size": 128, "lr": 3e-3,
                "max_train_rows": 20000}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
            "bottleneck": trial.suggest_categorical("bottleneck", [2, 4, 8, 16]),
            "lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True),
            "epochs": trial.suggest_int("epochs", 10, 60),
        }

    def _fit(self, x: np.ndarray, seed: int) -> None:
        from training.models._torch_common import seed_everything, train_reconstruction

        seed_everything(seed)
        cap = int(self.params["max_train_rows"])
        if len(x) > cap:
            x = x[np.linspace(0, len(x) - 1, cap).astype(int)]
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        self.module = build_module(x.shape[1], int(self.params["hidden"]),
                                   int(self.params["bottleneck"]), mean, std)
        self.losses = train_reconstruction(self.module, x, int(self.params["epochs"]),
                                           int(self.params["batch_size"]), float(self.params["lr"]), seed)

    def _score(self, x: np.ndarray) -> np.ndarray:
        from training.models._torch_common import native_scores

        return native_scores(self.module, x)

    def _to_onnx(self) -> bytes:
        from training.models._torch_common import export_module

        return export_module(self.module, np.zeros((2, self.n_inputs), np.float32))

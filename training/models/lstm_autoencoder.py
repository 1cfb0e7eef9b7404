"""LSTM autoencoder on raw windows ``[B, T, S]`` (PyTorch, CPU) → ONNX.

Per-sensor mean/std are buffers inside the module; the encoder LSTM's last hidden state is
repeated T times and decoded by a second LSTM + linear layer; forward returns the mean squared
reconstruction error per window. The bundle's input kind is ``sequence``: the job feeds the
imputed window itself, not features.

Assumptions: fixed window length T (the FeatureSpec's ``window``); training is capped at
``max_train_windows`` windows (evenly spaced) to stay fast on 2 cores.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(64, 10, 3)).astype("float32")
>>> det = LSTMAutoencoderDetector(epochs=1, hidden=8).fit(x, seed=0)
>>> det.score(x[:2]).shape
(2,)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from training.models.base import Detector


def build_module(n_sensors: int, hidden: int, mean: np.ndarray, std: np.ndarray) -> Any:
    """The torch module: normalise per sensor → LSTM encoder → LSTM decoder → per-window MSE."""
    import torch
    from torch import nn

    class LSTMAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
            self.encoder = nn.LSTM(n_sensors, hidden, batch_first=True)
            self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
            self.out = nn.Linear(hidden, n_sensors)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = (x - self.mean) / self.std
            _, (h, _) = self.encoder(z)
            rep = h[-1].unsqueeze(1).expand(-1, z.shape[1], -1)
            dec, _ = self.decoder(rep)
            return ((self.out(dec) - z) ** 2).mean(dim=(1, 2))

    return LSTMAE()


class LSTMAutoencoderDetector(Detector):
    """LSTM autoencoder over the raw window; score = mean squared reconstruction error."""

    kind: ClassVar[str] = "lstm_autoencoder"
    input_kind = "sequence"
    parity_rtol: ClassVar[float] = 1e-4

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"hidden": 32, "epochs": 8, "batch_size": 64, "lr": 5e-3, "max_train_windows": 3000}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
            "lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True),
            "epochs": trial.suggest_int("epochs", 4, 16),
        }

    def _fit(self, x: np.ndarray, seed: int) -> None:
        from training.models._torch_common import seed_everything, train_reconstruction

        seed_everything(seed)
        cap = int(self.params["max_train_windows"])
        if len(x) > cap:
            x = x[np.linspace(0, len(x) - 1, cap).astype(int)]
        flat = x.reshape(-1, x.shape[2])
        mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        self.module = build_module(x.shape[2], int(self.params["hidden"]), mean, std)
        self.losses = train_reconstruction(self.module, x, int(self.params["epochs"]),
                                           int(self.params["batch_size"]), float(self.params["lr"]), seed)

    def _score(self, x: np.ndarray) -> np.ndarray:
        from training.models._torch_common import native_scores

        return native_scores(self.module, x, batch_size=1024)

    def _to_onnx(self) -> bytes:
        from training.models._torch_common import export_module

        return export_module(self.module, np.zeros((2, *self.input_shape[1:]), np.float32))

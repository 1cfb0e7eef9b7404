"""Shared PyTorch plumbing for the autoencoders: seeding, training loop, ONNX export."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's random; single-threaded for reproducible sums."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)


def train_reconstruction(module: Any, x: np.ndarray, epochs: int, batch_size: int, lr: float,
                         seed: int) -> list[float]:
    """Minimise the module's per-row reconstruction error (its forward output) with Adam.

    Returns the mean training loss per epoch.
    """
    import torch

    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    losses = []
    module.train()
    for _ in range(epochs):
        perm = torch.randperm(len(data), generator=gen)
        total = 0.0
        for i in range(0, len(data), batch_size):
            batch = data[perm[i:i + batch_size]]
            loss = module(batch).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        losses.append(total / len(data))
    module.eval()
    return losses


def native_scores(module: Any, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Forward pass in eval mode without gradients; float64 ``[B]``."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(module(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size]))).numpy())
    return np.concatenate(out).astype(np.float64)


def export_module(module: Any, example: np.ndarray) -> bytes:
    """``torch.onnx.export(..., dynamo=False)`` with a dynamic batch axis; input/score names."""
    import warnings

    import torch

    buf = io.BytesIO()
    module.eval()
    # The tracer warns about LSTM batch sizes and Python-bool checks; the parity tests run
    # batch 1 and batch N through the exported graph, which is what those warnings are about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _export(torch, module, example, buf)
    return buf.getvalue()


def _export(torch: Any, module: Any, example: np.ndarray, buf: io.BytesIO) -> None:
    from training.models.base import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME

    torch.onnx.export(
        module, (torch.from_numpy(np.ascontiguousarray(example[:2], dtype=np.float32)),), buf,
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=ONNX_OPSET, dynamo=False,
    )

"""Offline side: data loaders and the simulator, models, ONNX export, model bundles,
thresholds, evaluation (NAB, SKAB), reports and scheduled retraining."""

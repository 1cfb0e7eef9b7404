"""Per-sensor streaming logic as plain Python: reading schema and validation, imputation,
windows, features, ONNX scoring, alert policy and drift statistics.

Nothing here imports Flink at module level, so the same code runs inside the Flink job,
in offline replay and in unit tests.
"""

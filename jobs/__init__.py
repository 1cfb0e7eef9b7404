"""PyFlink topologies (the anomaly job, the passthrough pipe), job configuration,
submission to a Flink cluster and the savepoint-based model-swap controller."""

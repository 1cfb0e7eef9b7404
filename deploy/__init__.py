"""Local stack launcher (Kafka, Flink, Redis, Prometheus without Docker), Dockerfiles,
Kubernetes manifests, and the `vigil` command line."""

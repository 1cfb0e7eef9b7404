"""REST + live-stream service (FastAPI) backed by Redis: alerts, devices, ingestion,
synchronous scoring, notifications."""

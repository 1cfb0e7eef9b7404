# Scheduled retraining: `vigil retrain` (train a candidate on the job's Parquet archive or a
# dataset, promote it only if it beats the live bundle). CPU-only torch keeps the image small.
#   docker build -f deploy/docker/trainer.Dockerfile -t vigil-trainer .
#   docker run --rm -v models:/opt/vigil/models -v archive:/opt/vigil/archive vigil-trainer \
#       --archive /opt/vigil/archive --models /opt/vigil/models
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    MLFLOW_TRACKING_URI=file:///opt/vigil/mlruns
WORKDIR /opt/vigil/src
COPY pyproject.toml constraints.txt README.md ./
COPY udfs ./udfs
COPY jobs ./jobs
COPY training ./training
COPY sidecar ./sidecar
COPY deploy ./deploy
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu \
      -c constraints.txt ".[train]"
RUN mkdir -p /opt/vigil/models /opt/vigil/archive /opt/vigil/mlruns
ENTRYPOINT ["vigil", "retrain"]
CMD ["--archive", "/opt/vigil/archive", "--models", "/opt/vigil/models"]

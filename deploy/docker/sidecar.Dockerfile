# The REST + live-stream sidecar (FastAPI + Redis): `vigil sidecar`.
#   docker build -f deploy/docker/sidecar.Dockerfile -t vigil-sidecar .
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1
WORKDIR /opt/vigil/src
COPY pyproject.toml constraints.txt README.md ./
COPY udfs ./udfs
COPY jobs ./jobs
COPY training ./training
COPY sidecar ./sidecar
COPY deploy ./deploy
RUN pip install --no-cache-dir -c constraints.txt ".[sidecar]"
RUN useradd --system --uid 10001 vigil && mkdir -p /opt/vigil/models && chown vigil /opt/vigil/models
USER vigil
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["vigil", "sidecar"]
CMD ["--host", "0.0.0.0", "--port", "8000"]

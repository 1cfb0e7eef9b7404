# Flink JobManager / TaskManager / job-submitter image: the apache-flink wheel's own Flink
# distribution (the same one `vigil stack up` runs), the project and its venv, Java 17, the
# job's JVM operators (the Maven module jobs/jvm, built in the first stage) and the Flink Kafka
# connector jar on the classpath. Build context: the repository root.
#   docker build -f deploy/docker/flink.Dockerfile -t vigil-flink .
# Roles: `python -m deploy.container jobmanager|taskmanager`; submitter: `vigil submit ...`.

# Must equal <flink.kafka.connector.version> / <zstd.version> in deploy/kafka/pom.xml (tested).
ARG CONNECTOR_VERSION=5.0.0-2.2
ARG ZSTD_VERSION=1.5.6-4

FROM maven:3.9-eclipse-temurin-17 AS jars
ARG CONNECTOR_VERSION
ARG ZSTD_VERSION
COPY deploy/kafka/pom.xml /build/pom.xml
# The SQL connector does not bundle zstd-jni (needed for zstd-compressed topics).
RUN mvn -B -q -f /build/pom.xml dependency:copy \
      -Dartifact=org.apache.flink:flink-sql-connector-kafka:${CONNECTOR_VERSION}:jar \
      -DoutputDirectory=/jars \
 && mvn -B -q -f /build/pom.xml dependency:copy \
      -Dartifact=com.github.luben:zstd-jni:${ZSTD_VERSION}:jar -DoutputDirectory=/jars
# The Parquet format's jars for the job's raw archive (--archive-path), as the local stack
# fetches them on first use (deploy/parquet/pom.xml): there is no Maven in the final image.
COPY deploy/parquet/pom.xml /build/parquet/pom.xml
RUN mvn -B -q -f /build/parquet/pom.xml dependency:copy-dependencies -DoutputDirectory=/parquet \
      -DincludeScope=runtime \
 && echo ok > /parquet/.complete
# The job's JVM operators (parse, device windows, alert policy): built and unit-tested here.
COPY jobs/jvm /build/jvm
RUN mvn -B -q -f /build/jvm/pom.xml package

FROM python:3.11-slim-bookworm
ARG CONNECTOR_VERSION
ARG ZSTD_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONUNBUFFERED=1 \
    VIGIL_STATE_DIR=/opt/vigil/state \
    VIGIL_CACHE_DIR=/opt/vigil/cache \
    VIGIL_PYTHON=/usr/local/bin/python3
WORKDIR /opt/vigil/src
# Dependencies first (cached layer), then the code.
COPY pyproject.toml constraints.txt README.md ./
COPY udfs ./udfs
COPY jobs ./jobs
COPY training ./training
COPY sidecar ./sidecar
COPY deploy ./deploy
RUN pip install --no-cache-dir -c constraints.txt .
COPY --from=jars /build/jvm/target/vigil-flink-ops-1.0.jar /opt/vigil/jvm/vigil-flink-ops.jar
ENV VIGIL_JVM_OPS_JAR=/opt/vigil/jvm/vigil-flink-ops.jar
COPY flink-conf /opt/vigil/flink-conf
COPY --from=jars /jars/flink-sql-connector-kafka-${CONNECTOR_VERSION}.jar /jars/zstd-jni-${ZSTD_VERSION}.jar /opt/vigil/cache/flink-connectors/
COPY --from=jars /parquet /opt/vigil/cache/parquet-prefetched
RUN python -c "from pathlib import Path; from deploy.artifacts import parquet_cache_dir; \
Path('/opt/vigil/cache/parquet-prefetched').rename(parquet_cache_dir())"
# lib/ = the wheel's jars + the connector + zstd-jni (FLINK_LIB_DIR), exactly like the local stack.
RUN set -e; PYFLINK=$(python -c 'import pyflink,os;print(os.path.dirname(pyflink.__file__))'); \
    mkdir -p /opt/vigil/flink-lib /opt/vigil/state/checkpoints /opt/vigil/state/savepoints /opt/vigil/models; \
    ln -s "$PYFLINK"/lib/*.jar /opt/vigil/flink-lib/; \
    ln -s /opt/vigil/cache/flink-connectors/*.jar /opt/vigil/flink-lib/
ENV FLINK_LIB_DIR=/opt/vigil/flink-lib \
    FLINK_CONF_DIR=/opt/vigil/conf \
    VIGIL_FLINK_CONF_TEMPLATE=/opt/vigil/flink-conf
# 8081 REST/UI, 6123 RPC, 6121-6122 TaskManager data/rpc, 9249 Prometheus reporter
EXPOSE 8081 6123 6121 6122 9249
ENTRYPOINT ["python", "-m", "deploy.container"]
CMD ["jobmanager"]

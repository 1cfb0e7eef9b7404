#!/usr/bin/env bash
# Installs the Debian packages the local stack and the browser tests need, only when missing.
# Kafka and Flink need no system package: Java 17 + Maven are on the machine, Kafka's jars come
# from Maven Central (deploy/kafka/pom.xml) and Flink ships inside the apache-flink wheel.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v prometheus   >/dev/null 2>&1 || need+=(prometheus)
command -v chromium     >/dev/null 2>&1 || need+=(chromium)
command -v java         >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn          >/dev/null 2>&1 || need+=(maven)
if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]} (run as root or install them: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Finish any half-configured install left by an interrupted apt run before adding ours.
dpkg --configure -a >/dev/null 2>&1 || apt-get -y -f install >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts its own redis/prometheus services on install where an init system runs; the
# project's launcher runs its own instances on the configured ports, so those are not used.
echo "system packages installed"

#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) answer: start them if they are
# installed but stopped, install them from Debian's packages if they are absent.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "installing PostgreSQL and RabbitMQ"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql rabbitmq-server >/dev/null
fi

if ! pg_up; then
  echo "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 60); do pg_up && break; sleep 1; done
  # trust auth for local TCP connections as the project expects (development machines and CI only)
  if ! psql -h 127.0.0.1 -U postgres -c 'select 1' >/dev/null 2>&1; then
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | tail -1)
    $SUDO sed -i 's/^\(host.*127.0.0.1\/32\s*\)\S*$/\1trust/' "$hba"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main reload
  fi
fi
pg_up || { echo "PostgreSQL does not answer on 127.0.0.1:5432"; exit 1; }

# The suites start whole stacks (17 processes) and fire hundreds of concurrent requests; without a
# connection pool each concurrent ASGI request holds its own connection, so PostgreSQL's default of 100
# connections is not enough. Raise it once (takes effect after a restart).
max_conn=$(psql -h 127.0.0.1 -U postgres -tAc 'show max_connections' 2>/dev/null || echo 0)
if [ "${max_conn:-0}" -lt 400 ]; then
  echo "raising PostgreSQL max_connections from $max_conn to 400"
  psql -h 127.0.0.1 -U postgres -qc 'ALTER SYSTEM SET max_connections = 400' \
    && $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main restart || true
  for _ in $(seq 60); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL does not answer on 127.0.0.1:5432"; exit 1; }

if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "starting RabbitMQ"
  $SUDO rabbitmq-server -detached || true
  for _ in $(seq 90); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
  rabbitmqctl -q await_startup >/dev/null 2>&1 || true
fi
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || { echo "RabbitMQ does not answer on 127.0.0.1:5672"; exit 1; }

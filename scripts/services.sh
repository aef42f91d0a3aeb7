#!/usr/bin/env bash
# Start what is not running: PostgreSQL, Redis, RabbitMQ (test), Azurite (test). Rerunnable.
source "$(dirname "$0")/lib.sh"
MODE="${1:-run}"

if ! port_open 127.0.0.1 5432; then
  log "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
fi
wait_port 127.0.0.1 5432 PostgreSQL

if ! port_open 127.0.0.1 6379; then
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/geoplatform.log
fi
wait_port 127.0.0.1 6379 Redis

if [ "$MODE" = test ]; then
  if ! port_open 127.0.0.1 5672 && command -v rabbitmq-server >/dev/null; then
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached
  fi
  if command -v rabbitmqctl >/dev/null && wait_port 127.0.0.1 5672 RabbitMQ 90; then
    as_root rabbitmqctl await_startup >/dev/null 2>&1 || true
    as_root rabbitmqctl add_vhost geoplatform_test >/dev/null 2>&1 || true
    as_root rabbitmqctl set_permissions -p geoplatform_test guest ".*" ".*" ".*" >/dev/null
  fi
  if ! port_open 127.0.0.1 10000; then
    log "starting Azurite (blob) on 127.0.0.1:10000"
    mkdir -p "$ROOT/var/azurite"
    nohup "$AZURITE_DIR/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort 10000 \
      --location "$ROOT/var/azurite" --disableTelemetry --skipApiVersionCheck --silent \
      >"$ROOT/var/azurite/azurite.log" 2>&1 &
  fi
  wait_port 127.0.0.1 10000 Azurite
fi

#!/bin/sh
# One-shot job of docker-compose.yml (image temporalio/admin-tools), after
# temporalio/samples-server compose/scripts/create-namespace.sh: the namespace with a
# 90-day retention of closed cases (auditors also get the archive in the app database)
# and vetflow's search attributes, which must equal models.contracts.SEARCH_ATTRIBUTES
# (tests/test_compose.py checks both, and runs this script against a dev server).
#
# Safe to re-run: existing namespace and attributes are kept; any other failure stops it.
set -eu

NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
SEARCH_ATTRIBUTES="VetflowProcess VetflowOrgUnit VetflowStatus VetflowVeteran"

# The CLI sometimes fails on the IPv6 answer for a compose host name: use IPv4.
host="${ADDRESS%:*}"
port="${ADDRESS##*:}"
ip="$(getent ahosts "$host" | awk '$1 ~ /^[0-9.]+$/ { print $1; exit }')"
ADDRESS="${ip:-$host}:$port"

retry() {
  # retry ATTEMPTS COMMAND...: the server and a new namespace take a while to be ready.
  attempts=$1
  shift
  n=1
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then
      echo "gave up after $attempts attempts: $*" >&2
      return 1
    fi
    n=$((n + 1))
    sleep 2
  done
}

echo "waiting for Temporal at $ADDRESS"
retry 60 temporal operator cluster health --address "$ADDRESS"

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention 90d --address "$ADDRESS"
fi

for name in $SEARCH_ATTRIBUTES; do
  if temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS" \
      | awk '{ print $1 }' | grep -qx "$name"; then
    echo "search attribute $name exists"
  else
    retry 30 temporal operator search-attribute create --namespace "$NAMESPACE" \
      --name "$name" --type Keyword --address "$ADDRESS"
  fi
done
echo "namespace $NAMESPACE is ready"

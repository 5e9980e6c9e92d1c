#!/bin/sh
# Namespace with 90-day retention (auditors also get the archive in the app database)
# and the search attributes of models.contracts.SEARCH_ATTRIBUTES.
set -eu
NS=default
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" | grep -q SERVING; do sleep 1; done
temporal operator namespace describe -n "$NS" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NS" --retention 90d --address "$TEMPORAL_ADDRESS"
for attr in VetflowProcess VetflowOrgUnit VetflowStatus VetflowVeteran; do
  temporal operator search-attribute create -n "$NS" --name "$attr" --type Keyword --address "$TEMPORAL_ADDRESS" || true
done

#!/bin/sh
# Entry point of the serving image (see the Dockerfile): tritonserver on the mounted, read-only
# model repository, with model control, shared memory, logging and tracing guarded by the admin
# key (Triton's restricted APIs; ticket_classifier/admin_key.py holds the same list and header).
#
# The key comes from the file $TICKET_CLASSIFIER_ADMIN_KEY_FILE (default
# /run/secrets/ticket-classifier-admin-key, where Docker and Kubernetes mount secrets), else from
# $TICKET_CLASSIFIER_ADMIN_KEY. Without either, a random key nobody knows is used: the server
# serves, and model control is closed to everyone. Extra arguments go to tritonserver.
set -eu

key_file="${TICKET_CLASSIFIER_ADMIN_KEY_FILE:-/run/secrets/ticket-classifier-admin-key}"
if [ -r "$key_file" ]; then
    key=$(tr -d ' \t\r\n' < "$key_file")
elif [ -n "${TICKET_CLASSIFIER_ADMIN_KEY:-}" ]; then
    key="$TICKET_CLASSIFIER_ADMIN_KEY"
else
    key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    echo "ticket-classifier: no admin key given: model control is closed (set $key_file)" >&2
fi
unset TICKET_CLASSIFIER_ADMIN_KEY
case "$key" in
    "" | *[!A-Za-z0-9._~+/-]*)
        echo "error: the admin key may hold only letters, digits and ._~+/-" >&2
        exit 1
        ;;
esac
if [ "${#key}" -lt 16 ]; then
    echo "error: the admin key must be at least 16 characters" >&2
    exit 1
fi
restricted="model-repository,shared-memory,logging,trace:admin-key=$key"

exec tritonserver \
    --model-repository="${MODEL_REPOSITORY:-/models}" \
    --model-control-mode=explicit --load-model='*' \
    --strict-readiness=true --exit-on-error=false \
    --metrics-config=summary_latencies=true \
    --http-restricted-api="$restricted" --grpc-restricted-protocol="$restricted" \
    "$@"

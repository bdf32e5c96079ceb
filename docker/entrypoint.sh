#!/bin/sh
# Entry point of the validator image.
#   worker [FAUST WORKER ARGS...]  (default) the validator: faust -A cybermesh.app worker, web
#                                  server on $CYBERMESH_WEB_BIND:$CYBERMESH_WEB_PORT; it runs the
#                                  start-up checks first and exits 78 naming a bad setting
#   anything else                  run as given, e.g. `cybermesh db upgrade`, `init-network.sh`
set -eu
if [ "${1:-worker}" = worker ]; then
  [ $# -gt 0 ] && shift
  exec faust -A cybermesh.app worker -l "${CYBERMESH_FAUST_LOG_LEVEL:-info}" \
    --web-port "${CYBERMESH_WEB_PORT:-6066}" --web-bind "${CYBERMESH_WEB_BIND:-0.0.0.0}" "$@"
fi
exec "$@"

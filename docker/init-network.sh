#!/bin/sh
# Keys and genesis of a local CyberMesh network (the compose file's `network-init` step).
#
# Usage: init-network.sh   (settings from the environment; defaults in brackets)
#   CYBERMESH_NETWORK_DIR  where keys/ and genesis.json go            [/var/lib/cybermesh/network]
#   CYBERMESH_VALIDATORS   number of validators v0..v(N-1)            [4]
#   CYBERMESH_CHAIN_ID     chain id                                   [cybermesh-compose]
#   CYBERMESH_P2P_PORT     libp2p port of every validator             [7100]
#   CYBERMESH_P2P_HOST     host name pattern, %s = validator id       [%s]
# Writes keys/<v>.consensus.key, keys/<v>.node.key (cybermesh keygen, 0600), keys/det-1.key (a
# producer with every ai.* topic and role) and genesis.json (cybermesh genesis), then validates
# it. Idempotent: an existing genesis.json is validated and kept (keys are never overwritten).
set -eu
dir=${CYBERMESH_NETWORK_DIR:-/var/lib/cybermesh/network}
n=${CYBERMESH_VALIDATORS:-4}
chain=${CYBERMESH_CHAIN_ID:-cybermesh-compose}
port=${CYBERMESH_P2P_PORT:-7100}
host=${CYBERMESH_P2P_HOST:-%s}
if [ -f "$dir/genesis.json" ]; then
  echo "init-network: $dir/genesis.json exists; validating it" >&2
  exec cybermesh genesis validate "$dir/genesis.json"
fi
mkdir -p "$dir/keys"
key() { [ -f "$1" ] || cybermesh keygen --out "$1" >/dev/null; }
set --
i=0
while [ "$i" -lt "$n" ]; do
  v="v$i"
  key "$dir/keys/$v.consensus.key"
  key "$dir/keys/$v.node.key"
  # shellcheck disable=SC2059
  addr="/dns4/$(printf "$host" "$v")/tcp/$port"
  set -- "$@" --validator "id=$v,consensus=@$dir/keys/$v.consensus.key,node=@$dir/keys/$v.node.key,address=$addr"
  i=$((i + 1))
done
key "$dir/keys/det-1.key"
cybermesh genesis --chain-id "$chain" "$@" \
  --producer "id=det-1,pubkey=@$dir/keys/det-1.key,topics=ai.anomalies.v1+ai.evidence.v1+ai.policy.v1,roles=detector+analyst+policy_admin" \
  --out "$dir/genesis.json.tmp"
cybermesh genesis validate "$dir/genesis.json.tmp" >/dev/null
mv "$dir/genesis.json.tmp" "$dir/genesis.json"
echo "init-network: wrote $dir/genesis.json ($n validators, producer det-1)" >&2

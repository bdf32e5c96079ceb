# Sourced by scripts/test and scripts/localnet: ensure_venv ROOT VENV
# Runs `scripts/install --venv VENV --dev --editable` (the one install procedure, also used by
# docker/Dockerfile) whenever pyproject.toml, constraints.txt or the native extension's sources
# (native/) changed since the last install (their SHA-256 is kept in the venv).
# CYBERMESH_NO_INSTALL=1: use VENV as it is (it must exist); never create or install.
ensure_venv() {
  local root=$1 venv=$2 stamp want
  if [ "${CYBERMESH_NO_INSTALL:-}" = 1 ]; then
    [ -x "$venv/bin/python" ] || { echo "CYBERMESH_NO_INSTALL=1 but $venv has no python" >&2; return 1; }
    return 0
  fi
  stamp="$venv/.cybermesh-deps.sha256"
  want=$(cat "$root/pyproject.toml" "$root/constraints.txt" "$root"/native/pyproject.toml \
    "$root"/native/Cargo.toml "$root"/native/Cargo.lock "$root"/native/src/*.rs \
    "$root"/native/*.pyi | sha256sum | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    "$root/scripts/install" --venv "$venv" --dev --editable || return 1
    echo "$want" >"$stamp"
  fi
}

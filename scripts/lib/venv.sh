# Sourced by scripts/test and scripts/demo: ensure_venv ROOT VENV
# Creates VENV if missing and installs `-c constraints.txt -e '.[dev]'` whenever pyproject.toml or
# constraints.txt changed since the last install (their SHA-256 is kept in the venv).
# CYBERMESH_NO_INSTALL=1: use VENV as it is (it must exist); never create or install.
ensure_venv() {
  local root=$1 venv=$2 stamp want
  if [ "${CYBERMESH_NO_INSTALL:-}" = 1 ]; then
    [ -x "$venv/bin/python" ] || { echo "CYBERMESH_NO_INSTALL=1 but $venv has no python" >&2; return 1; }
    return 0
  fi
  if [ ! -x "$venv/bin/python" ]; then
    printf '\n==> creating the virtualenv %s\n' "$venv" >&2
    python3 -m venv "$venv" || { echo "python3 -m venv failed (Debian: apt-get install -y python3-venv)" >&2; return 1; }
  fi
  stamp="$venv/.cybermesh-deps.sha256"
  want=$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    printf "\n==> installing Python dependencies: pip install -c constraints.txt -e '.[dev]'\n" >&2
    (cd "$root" && "$venv/bin/python" -m pip install -q --disable-pip-version-check \
      -c constraints.txt -e '.[dev]') || return 1
    echo "$want" >"$stamp"
  fi
}

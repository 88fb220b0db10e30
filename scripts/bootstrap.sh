# Sourced by scripts/run and scripts/test: make .venv with CoC Ledger installed, once per
# change of pyproject.toml. Needs only Python 3.11+ and the package registry.
set -euo pipefail

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "CoC Ledger needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 2
}

bootstrap() {  # bootstrap [extra]  e.g. bootstrap dev
  local extra="${1:-}" spec="." stamp
  [ -n "$extra" ] && spec=".[${extra}]"
  local python
  python="$(find_python)"
  stamp=".venv/.installed-$("$python" -c 'import hashlib,sys; print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:16])')${extra:+-$extra}"
  if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv  # missing or half-made: start again
    "$python" -m venv .venv
  fi
  if [ ! -f "$stamp" ]; then
    echo "Installing CoC Ledger ${extra:+with $extra tools }into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
    .venv/bin/python -m pip install --quiet -e "$spec" >&2
    touch "$stamp"
  fi
}

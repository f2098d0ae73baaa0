# Sourced by scripts/demo and scripts/test: installs uv and the locked dependencies into .venv.
# Nothing is downloaded outside the package registries; uv never downloads a Python.
export UV_PYTHON_DOWNLOADS=never
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
# Byte-compiled once here: the machine sets PYTHONDONTWRITEBYTECODE=1, so without it every
# interpreter (each test worker, each `halosync` subprocess) compiles its imports again.
uv sync --frozen --quiet --compile-bytecode

# The browser tests drive Debian's Chromium (never `playwright install`). Only the test
# script asks for it, by setting HALOSYNC_NEED_CHROMIUM=1.
if [ "${HALOSYNC_NEED_CHROMIUM:-0}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium is missing; install it (apt-get install chromium)" \
      "or the browser tests will skip (and fail under CI=true)." >&2
  fi
fi

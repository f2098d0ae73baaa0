# Sourced by scripts/demo and scripts/test: installs uv and the locked dependencies into .venv.
# Nothing is downloaded outside the package registries; uv never downloads a Python.
export UV_PYTHON_DOWNLOADS=never
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
uv sync --frozen --quiet

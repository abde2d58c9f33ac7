#!/usr/bin/env bash
# Install the LiteLLM proxy for benchmarks/llm_gateway.py into .cache/litellm-venv (its own
# virtual environment: nothing in Plinth's .venv or CI depends on it).
#
# 1.108.7 is the newest release whose `proxy` extra resolves from PyPI as this machine
# sees it: 1.108.8 and later pin litellm-enterprise / litellm-proxy-extras / litellm-proxy
# releases that are not published there. Re-running is a no-op once installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=1.108.7
VENV=.cache/litellm-venv
PYTHON=${PYTHON:-python3}
if [ -x "$VENV/bin/litellm" ] && "$VENV/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$VERSION')"; then
  echo "litellm $VERSION already in $VENV"
  exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "litellm[proxy]==$VERSION"
echo "installed litellm[proxy]==$VERSION into $VENV"

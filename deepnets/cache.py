"""Where deepnets keeps what it computes once per machine: `$DEEPNETS_CACHE_DIR`, else
`$XDG_CACHE_HOME/deepnets`, else `~/.cache/deepnets` (oneDNN kernel verdicts, the generated
shapes10 arrays). Deleting it is always safe: everything in it is computed again."""

from __future__ import annotations

import os

CACHE_VARIABLE = "DEEPNETS_CACHE_DIR"


def cache_directory() -> str:
    """The cache directory (not created here)."""
    return os.environ.get(CACHE_VARIABLE) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deepnets"
    )

"""The security suite: each test tries to break one boundary where nlpops reads what someone else controls.

Threat model (docs/security.md says the same for operators):

- **A bundle** (a model directory or archive, e.g. downloaded, shared, or pulled from a registry) is written
  by whoever trained or copied it: possibly an attacker. Loading it may read only files listed in its
  manifest and inside its folder (no ``..``, no absolute path, no link leading out, no linked folder), never
  runs code from it (no pickle; scikit-learn classes and their parameter values allow-listed), and every
  file and manifest field is checksummed. A bundle cannot make registering it write outside the registry.
- **A config** (``nlpops.yaml``, ``NLPOPS_*`` variables, flags, plans) is written by the operator, but its
  values travel into file names, Dockerfiles, manifests and commands: a model name is 1-64 of
  ``[A-Za-z0-9._-]``, and rendered files quote every value so that no value can end its quotes.
- **A request** (HTTP clients of ``nlpops serve``, possibly hostile or a cross-origin page) may send any
  bytes, any headers, any number of idle connections: it gets a 4xx with the standard error body, never a
  500 or a traceback; JSON only as ``application/json``; its labels (``lang``) cannot grow the status
  document or the statistics store; idle connections are capped and timed out, so ``/healthz`` answers.
- **A data file** (batch input, training data) may hold any bytes: a bad or oversized row is rejected as a
  row (batch rejects file with its number and reason), never aborting the run.
- **A model reference** (``NAME``, ``NAME@ALIAS``, ``NAME:VERSION``, a path) typed by a user parses or is
  refused with one clear line.
- **The registry home** may be damaged or restored from a backup: a stored version is never lost,
  re-numbered or overwritten; reads never write.

Out of scope: an attacker who can write the registry home or the service's own files (they own the
service), and denial of service beyond one host's limits (put a proxy in front).
"""

from __future__ import annotations

import sys
from pathlib import Path

# the serving tests' helpers (a real uvicorn server on 127.0.0.1, port 0)
_SERVE_TESTS = str(Path(__file__).parents[1] / "serve")
if _SERVE_TESTS not in sys.path:
    sys.path.insert(0, _SERVE_TESTS)

"""oculo loads torch with OpenMP's waiting threads asleep (OMP_WAIT_POLICY=PASSIVE) unless the user chose a policy:
with spinning waits, decoding on 2 cores beside one busy process collapsed (bench/threads.py). OpenMP reads the
variable once, when torch loads, so each case runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENGINE_FIRST = "from oculo.engines.local import pick_device; pick_device('cpu')"
# The server checks a request's schema with xgrammar, which imports torch itself, before any model loads.
SCHEMA_FIRST = "from oculo.server.checks import check_schema; check_schema('{\"type\": \"object\"}')"
REPORT = "import os, torch; print(os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads() > 0)"


@pytest.mark.parametrize("first", [ENGINE_FIRST, SCHEMA_FIRST], ids=["engine", "schema-check"])
@pytest.mark.parametrize(("chosen", "seen"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_torch_is_loaded_with_sleeping_openmp_threads(first, chosen, seen):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if chosen:
        env["OMP_WAIT_POLICY"] = chosen
    out = subprocess.run([sys.executable, "-c", f"{first}; {REPORT}"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [seen, "True"]

"""Settings for the test processes.

The suite runs in two worker processes (pytest-xdist, ``-n 2 --dist loadfile`` in
pyproject.toml), each compiling a few hundred XLA programs. Before these settings the whole
suite, run in one process, crashed four times at the same place, about 75% of the way
through (SIGABRT or SIGSEGV inside XLA, while compiling or while writing a compiled
executable to JAX's persistent cache, under tests/test_predictive_shrinkage.py's pooled fit),
though never when that file ran alone or with the files next to it: it grew with the number
of programs one process had compiled. So:

- after each test module, JAX's in-memory caches of traced and compiled programs are
  cleared (``jax.clear_caches()``) and garbage collected, so compiled executables do not
  pile up in a worker; a module's shared fixtures are compiled once within it;
- bayesvol's caches (JAX's persistent compilation cache and the stored programs) point at
  one fresh folder for the whole session, shared by the workers and removed at the end: a
  program compiled by one module is read back by the next module that needs it, instead of
  compiled again, and nothing is read from or left in the user's own cache. Commands run as
  subprocesses (the CLI and example tests) keep their own caches, and
  tests/test_latency_cache.py tests the caches in subprocesses of their own.
"""

import gc
import os
import shutil
import tempfile

import jax
import pytest

import bayesvol

# created by the controlling process (conftest loads before pytest-xdist starts its workers,
# which inherit the environment) or by a plain single-process run
if not os.environ.get("BAYESVOL_TEST_SESSION_CACHE"):
    os.environ["BAYESVOL_TEST_SESSION_CACHE"] = tempfile.mkdtemp(prefix="bayesvol-tests-")
_CACHE = os.environ["BAYESVOL_TEST_SESSION_CACHE"]
bayesvol.set_cache_dir(_CACHE)


def pytest_sessionfinish(session, exitstatus):
    """The controller (or a single-process run) removes the session's cache folder."""
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs when a test module ends (see the module docstring)."""
    yield
    jax.clear_caches()
    gc.collect()

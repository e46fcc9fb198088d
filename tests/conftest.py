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

XLA's CPU backend compiles the suite's programs at LLVM optimisation level 0
(``--xla_backend_optimization_level=0`` added to ``XLA_FLAGS``, inherited by the workers and by
the commands the tests run as subprocesses), unless ``XLA_FLAGS`` already sets a level. The
suite spends most of its time compiling programs it then runs once or a few times; the same
XLA programs are built, only the machine code is less optimised. Measured on 2 cores: a
10 x 500 pooled fit compiled in 35 s against 56 s, and tests/test_hier_garch.py and
tests/test_samplers.py ran 16% and 17% faster. Speed is measured by benchmarks/, at the
default level.
"""

import gc
import os
import shutil
import tempfile

if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402
import pytest  # noqa: E402

import bayesvol  # noqa: E402

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


# The files that take longest (measured, full suite on 2 cores, 2026-12-01), longest first.
# With ``--dist loadfile`` each worker takes the next file when it is free, so starting with
# the long ones leaves short ones to even out the two workers at the end (longest processing
# time first); in alphabetical order the run ended with one worker alone for about 2 minutes.
# A file missing here only runs later; nothing else depends on the order.
LONG_FILES = ("test_gas_t_cov.py", "test_cli_demo.py", "test_garch_inference.py",
              "test_dfsv_student.py", "test_report.py", "test_joint_engine.py",
              "test_examples.py", "test_samplers.py", "test_beta_t_egarch.py",
              "test_sequential.py", "test_evidence.py", "test_dfsv_var.py", "test_score.py",
              "test_garch_likelihood.py", "test_dfsv_sequential.py", "test_dfsv.py")


def pytest_collection_modifyitems(config, items):
    """Run the long files first (LONG_FILES), the rest in their usual order."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))

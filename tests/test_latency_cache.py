"""The compilation caches: on by default for the API (not only the CLI), in the user's cache
folder, moved by ``BAYESVOL_CACHE_DIR`` or ``bv.set_cache_dir(path)`` and turned off by
``BAYESVOL_CACHE=0`` or ``bv.set_cache_dir(None)``; small programs are kept too; a stored
program is loaded by a later process instead of being traced again; a new seed or a new
number of draws does not recompile the mode finder or the VI loop; and the two things that
replaced ArviZ on the fit path (PSIS smoothing, writing posterior.nc) give the same results.

Cache settings are read when bayesvol is imported, so each of those cases runs in a fresh
interpreter with a clean environment. No timings are asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import bayesvol as bv
from bayesvol.simulate import simulate_garch


def _fresh(code: str, tmp_path: Path, **env: str) -> dict:
    """Run ``code`` in a new interpreter whose environment has no JAX_/BAYESVOL_ settings
    (plus ``env``, and HOME / XDG_CACHE_HOME inside tmp_path); return its last JSON line."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("JAX_", "BAYESVOL_", "_BAYESVOL"))}
    environ.update({"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "xdg"),
                    "LOCALAPPDATA": str(tmp_path / "local")})
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=environ)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


REPORT = """
    import json, os
    import bayesvol as bv
    import jax
    jax.jit(lambda x: x * 2.0 + 1.0)(3.0)  # a tiny program: cached only if thresholds are 0
    folder = jax.config.jax_compilation_cache_dir
    print(json.dumps({
        "jax_dir": folder, "bv_dir": bv.cache_dir(),
        "min_time": jax.config.jax_persistent_cache_min_compile_time_secs,
        "min_size": jax.config.jax_persistent_cache_min_entry_size_bytes,
        "entries": sorted(os.listdir(folder)) if folder and os.path.isdir(folder) else []}))
"""


def _default_folder(tmp_path: Path) -> Path:
    if sys.platform == "darwin":
        return tmp_path / "home" / "Library" / "Caches" / "bayesvol" / "jax"
    if sys.platform == "win32":
        return tmp_path / "local" / "bayesvol" / "jax"
    return tmp_path / "xdg" / "bayesvol" / "jax"


def test_the_api_caches_compiled_programs_in_the_user_cache_folder(tmp_path: Path) -> None:
    out = _fresh(REPORT, tmp_path)
    folder = _default_folder(tmp_path)
    assert out["jax_dir"] == str(folder) and out["bv_dir"] == str(folder)
    assert out["min_time"] == 0 and out["min_size"] == 0
    assert any(e.endswith("-cache") for e in out["entries"]), out["entries"]


def test_environment_moves_the_cache(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    out = _fresh(REPORT, tmp_path, BAYESVOL_CACHE_DIR=str(elsewhere))
    assert out["jax_dir"] == str(elsewhere) == out["bv_dir"]
    assert any(e.endswith("-cache") for e in os.listdir(elsewhere))
    assert not _default_folder(tmp_path).exists()


def test_environment_turns_the_cache_off(tmp_path: Path) -> None:
    out = _fresh(REPORT, tmp_path, BAYESVOL_CACHE="0")
    assert out["jax_dir"] is None and out["bv_dir"] is None
    assert not _default_folder(tmp_path).exists()


def test_set_cache_dir_moves_then_turns_off_after_jax_has_compiled(tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    out = _fresh(f"""
        import json, os
        import bayesvol as bv
        import jax
        jax.jit(lambda x: x + 1.0)(1.0)                  # compiled in the default folder
        assert bv.set_cache_dir({str(moved)!r}) == {str(moved)!r}
        jax.jit(lambda x: x * 3.0 - 2.0)(1.0)            # now in the new folder
        moved = sorted(os.listdir({str(moved)!r}))
        assert bv.set_cache_dir(None) is None
        jax.jit(lambda x: x / 7.0 + 5.0)(1.0)            # nowhere
        print(json.dumps({{"moved": moved, "after": sorted(os.listdir({str(moved)!r})),
                          "jax_dir": jax.config.jax_compilation_cache_dir,
                          "bv_dir": bv.cache_dir()}}))
        """, tmp_path)
    assert any(e.endswith("-cache") for e in out["moved"])
    assert out["after"] == out["moved"]
    assert out["jax_dir"] is None and out["bv_dir"] is None


def test_a_jax_cache_folder_set_by_the_user_is_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    out = _fresh(REPORT, tmp_path, JAX_COMPILATION_CACHE_DIR=str(mine))
    assert out["jax_dir"] == str(mine)
    assert out["bv_dir"] is None  # no stored programs in a folder bayesvol does not own
    assert not _default_folder(tmp_path).exists()


STORED = """
    import json
    import jax.numpy as jnp
    import bayesvol as bv
    from bayesvol._config import call_stored

    calls = []

    def build():
        calls.append(1)
        if {fail}:
            raise AssertionError("traced again although the program is stored")
        return lambda x, y: {{"sum": x + y, "prod": (x * y, jnp.sin(x))}}

    out = call_stored("test", "key-1", build, jnp.arange(3.0), jnp.ones(3))

    def build_named():  # a NamedTuple result (as the pooled fit's start values are)
        calls.append(1)
        if {fail}:
            raise AssertionError("traced again although the program is stored")
        from bayesvol.inference.joint.start import JointStart
        return lambda x: JointStart(x, 2 * x, 3 * x, 4 * x, x > 1, 5 * x)

    named = call_stored("test_named", "key-1", build_named, jnp.arange(3.0))
    assert type(named).__name__ == "JointStart" and named.ok.tolist() == [False, False, True]
    print(json.dumps({{"built": len(calls), "sum": out["sum"].tolist(),
                      "prod": out["prod"][0].tolist()}}))
"""


def test_a_stored_program_is_loaded_by_a_later_process(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    first = _fresh(STORED.format(fail=False), tmp_path, BAYESVOL_CACHE_DIR=cache)
    assert first == {"built": 2, "sum": [1.0, 2.0, 3.0], "prod": [0.0, 1.0, 2.0]}
    stored = list((tmp_path / "cache" / "programs").rglob("test-*.jaxprog"))
    assert len(stored) == 1
    assert list((tmp_path / "cache" / "programs").rglob("test_named-*.jaxprog"))
    assert stored[0].read_bytes().startswith(b"bayesvol-stored-program-2\n")  # not a pickle
    second = _fresh(STORED.format(fail=True), tmp_path, BAYESVOL_CACHE_DIR=cache)
    assert second == {**first, "built": 0}


def test_a_corrupt_stored_program_is_traced_and_replaced(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    _fresh(STORED.format(fail=False), tmp_path, BAYESVOL_CACHE_DIR=cache)
    (path,) = (tmp_path / "cache" / "programs").rglob("test-*.jaxprog")
    path.write_bytes(path.read_bytes()[:-100])  # truncated, as by a crash or a full disk
    again = _fresh(STORED.format(fail=False), tmp_path, BAYESVOL_CACHE_DIR=cache)
    assert again == {"built": 1, "sum": [1.0, 2.0, 3.0], "prod": [0.0, 1.0, 2.0]}
    third = _fresh(STORED.format(fail=True), tmp_path, BAYESVOL_CACHE_DIR=cache)
    assert third["built"] == 0


def test_without_a_cache_the_program_is_traced_every_time(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    _fresh(STORED.format(fail=False), tmp_path, BAYESVOL_CACHE_DIR=cache)
    out = _fresh(STORED.format(fail=False), tmp_path, BAYESVOL_CACHE="0")
    assert out["built"] == 2


# --------------------------------------------------------------- in this test session
@pytest.fixture(scope="module")
def series():
    return simulate_garch(500, dist="normal", seed=3, omega=0.1, alpha=0.2,
                          beta=0.75).to_frame()


def test_new_seed_or_number_of_draws_does_not_recompile_the_fit(series) -> None:
    """A second fit with another seed compiles nothing; one with other draw counts compiles
    only the draw evaluation (and the shapes around it), never the mode finder or VI loop."""
    import jax.monitoring

    compiled: list[str] = []
    active = [False]

    def listen(event: str, duration: float, **kw) -> None:
        if active[0] and event == "/jax/core/compile/backend_compile_duration":
            compiled.append(str(kw.get("fun_name")))

    jax.monitoring.register_event_duration_secs_listener(listen)
    first = bv.fit(series, method="vi", seed=0)
    active[0] = True
    second = bv.fit(series, method="vi", seed=1)
    assert compiled == []
    more = bv.fit(series, method="vi", seed=2, num_draws=300, psis_draws=700)
    active[0] = False
    assert not any(n.endswith(("mode", "vi_loop")) for n in compiled), compiled
    assert more.z.shape[2] == 300
    assert not np.array_equal(first.z, second.z)


def test_same_seed_same_draws_through_the_stored_programs(series) -> None:
    a = bv.fit(series, method="vi", seed=4)
    b = bv.fit(series, method="vi", seed=4)
    np.testing.assert_array_equal(a.z, b.z)
    assert a.diagnostics["pareto_k"] == b.diagnostics["pareto_k"]


def test_pareto_smoothing_matches_arviz_bit_for_bit() -> None:
    import arviz as az

    from bayesvol.inference.vi.psis import pareto_smooth

    rng = np.random.default_rng(0)
    for i in range(60):
        n = int(rng.choice([5, 30, 1000, 4000]))
        lw = rng.standard_t(df=rng.uniform(0.7, 10), size=n) * rng.uniform(0.2, 4)
        if i % 5 == 0:
            lw[rng.integers(0, n, size=max(1, n // 200))] = -np.inf
        lw -= lw.max()
        ours, k_ours = pareto_smooth(lw.copy())
        ref, k_ref = az.psislw(lw.copy())
        np.testing.assert_array_equal(ours, ref)
        assert k_ours == k_ref or (np.isinf(k_ours) and np.isinf(k_ref))


def test_saved_posterior_matches_the_inference_data(series, tmp_path: Path) -> None:
    """posterior.nc, written without ArviZ, reads back (with ArviZ) as to_inference_data()."""
    import arviz as az

    fit = bv.fit(series, method="vi", seed=0)
    fit.save(tmp_path)
    loaded = az.from_netcdf(tmp_path / "posterior.nc", engine="h5netcdf")
    ref = fit.to_inference_data()
    assert set(loaded.groups()) == set(ref.groups()) == {"posterior", "observed_data",
                                                         "variational"}
    for group in ("posterior", "observed_data", "variational"):
        a, b = loaded[group], ref[group]
        a.attrs.pop("created_at", None)
        b.attrs.pop("created_at", None)
        assert a.identical(b), group
    back = bv.Fit.load(tmp_path)
    np.testing.assert_array_equal(back.z, fit.z)
    assert back.summary().equals(fit.summary())

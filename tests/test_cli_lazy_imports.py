"""`bayesvol check`, `--help` and `simulate --help` must not import JAX (a 1-4 s import);
`--help` does not even import pandas.

Each case runs in a fresh interpreter, since this test session has long imported JAX.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

HEAVY = ("jax", "numpyro", "arviz", "matplotlib", "scipy.stats")


def _run(code: str, cwd: Path, heavy: tuple[str, ...] = HEAVY) -> None:
    """Run ``code`` in a fresh interpreter, then assert none of ``heavy`` got imported."""
    check = f"\nimport sys\nheavy = [m for m in {heavy!r} if m in sys.modules]\n" \
            "assert not heavy, f'imported {heavy}'\n"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + check], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_importing_the_cli_and_check_does_not_import_jax(tmp_path: Path) -> None:
    _run("""
        import sys
        import bayesvol.cli
        from bayesvol.cli.check import check
        assert 'jax' not in sys.modules
        """, tmp_path)


def test_import_bayesvol_is_lazy_but_complete(tmp_path: Path) -> None:
    _run("""
        import bayesvol as bv
        assert set(bv.__all__) <= set(dir(bv))
        assert callable(bv.load_returns) and bv.ReturnsPanel.__name__ == 'ReturnsPanel'
        """, tmp_path)


@pytest.mark.parametrize("args", [["--help"], ["simulate", "--help"], ["check", "--help"],
                                  ["fit", "--help"], ["forecast", "--help"]])
def test_help_does_not_import_jax(tmp_path: Path, args: list[str]) -> None:
    _run(f"""
        from bayesvol.cli import main
        assert main({args!r}) == 0
        """, tmp_path, (*HEAVY, "pandas"))


def _imported_by(args: list[str], cwd: Path) -> set[str]:
    """Top-level names of every module the real entry point (``python -m bayesvol ARGS``)
    imports, from ``-X importtime`` (it lists each import, including those of __main__)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "bayesvol", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "bayesvol.cli" in names  # the listing worked
    return names


def _heavy_in(names: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names for h in heavy if n == h or n.startswith(h + "."))


def test_the_console_entry_point_help_imports_no_jax(tmp_path: Path) -> None:
    """``bayesvol --help`` through the real entry point: not JAX, NumPyro, ArviZ, pandas."""
    assert _heavy_in(_imported_by(["--help"], tmp_path), (*HEAVY, "pandas")) == []


def test_the_console_entry_point_check_imports_no_jax(tmp_path: Path) -> None:
    dates = pd.bdate_range("2023-01-02", periods=40)
    (tmp_path / "r.csv").write_text("date,A\n" + "".join(
        f"{d:%Y-%m-%d},{0.01 * (t % 5 - 2)}\n" for t, d in enumerate(dates)))
    assert _heavy_in(_imported_by(["check", "r.csv"], tmp_path), HEAVY) == []


def test_check_on_a_file_does_not_import_jax(tmp_path: Path) -> None:
    dates = pd.bdate_range("2023-01-02", periods=40)
    lines = ["date,A,B", *(f"{d:%Y-%m-%d},{0.01 * (t % 7 - 3)},{0.02 * (t % 3 - 1)}"
                           for t, d in enumerate(dates))]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "bad.csv").write_text("date,A\n2023-01-02,0.1\n2023-01-03,x\n")
    _run("""
        from bayesvol.cli import main
        assert main(['check', 'r.csv']) == 0
        assert main(['check', 'bad.csv']) == 2
        """, tmp_path)


def test_public_names_still_work() -> None:
    import bayesvol as bv
    from bayesvol.api import fit
    from bayesvol.inference.runner import VIOptions

    assert bv.fit is fit and bv.VIOptions is VIOptions
    assert callable(bv.accuracy_table) and callable(bv.overlap_accuracy)
    assert bv.Fit.__name__ == "Fit"
    with pytest.raises(AttributeError):
        bv.no_such_name  # noqa: B018


@pytest.mark.parametrize(("env", "dtype"), [({}, "float64"), ({"BAYESVOL_X64": "0"}, "float32")])
def test_float64_still_on_when_jax_comes_later(tmp_path: Path, env: dict, dtype: str) -> None:
    import os

    code = ("import bayesvol, jax.numpy as jnp\n"
            "from bayesvol.simulate import simulate_garch\n"
            "print(jnp.ones(2).dtype)")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "BAYESVOL_"))}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [dtype]


def test_a_garch_model_and_its_fit_code_do_not_import_numpyro(tmp_path: Path) -> None:
    """The VI / MLE path of GARCH needs no NumPyro (0.7 s): the registry loads model modules
    on demand and the innovation laws are pure functions (NumPyro classes load lazily)."""
    _run("""
        import bayesvol.api, bayesvol.results
        from bayesvol.inference import runner
        from bayesvol.models.registry import build_model
        model = build_model('garch', dist='skewt')
        assert model.dist == 'skewt'
        """, tmp_path, ("numpyro",))
    _run("""
        import sys
        from bayesvol.distributions import SkewedT, StandardizedT
        assert 'numpyro' in sys.modules and SkewedT.__name__ == 'SkewedT'
        from bayesvol.models.registry import model_class
        assert model_class('hier-garch').__name__ == 'HierGarchModel'
        """, tmp_path, ())


@pytest.mark.skipif(importlib.util.find_spec("dask") is None, reason="needs dask")
def test_writing_netcdf_hides_dask_only_while_it_writes(tmp_path: Path) -> None:
    """no_dask: xarray writes and reads a file without importing Dask, and Dask works with
    xarray afterwards in the same process (nothing cached from the hidden state)."""
    _run("""
        import sys
        import numpy as np, xarray as xr
        from bayesvol.netcdf_io import no_dask
        with no_dask():
            ds = xr.Dataset({'x': (('a',), np.arange(3.0))}, coords={'a': ['p', 'q', 'r']})
            ds.to_netcdf('f.nc', engine='h5netcdf')
            with xr.open_dataset('f.nc', engine='h5netcdf') as back:
                assert back['x'].values.tolist() == [0.0, 1.0, 2.0]
        assert 'dask' not in sys.modules and 'distributed' not in sys.modules
        import dask.array as da
        from xarray.namedarray.pycompat import array_type
        assert da.Array in array_type('dask')
        assert xr.DataArray(da.zeros(4, chunks=2)).chunks == ((2, 2),)
        with no_dask():  # Dask is imported now: nothing is hidden
            assert sys.modules['dask'] is not None
        """, tmp_path, ())

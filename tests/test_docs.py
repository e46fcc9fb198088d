"""The documentation site builds with ``mkdocs build --strict``: no broken link or anchor, no
API entry mkdocstrings cannot find, no formula left unconverted, every page in the nav.

It also checks what the build generates rather than copies: the command-line reference has
every command and option of the installed ``bayesvol`` app, the benchmark tables are included
from benchmarks/results, and the equations became MathML (no script or CDN needed).
Skipped only where MkDocs is not installed (the test extra installs it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                                reason="mkdocs is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Build the site once, strictly, into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def _nav_pages(nav) -> list[str]:
    """Every page named in mkdocs.yml's nav (nested lists of {title: page or list})."""
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            out += _nav_pages(value)
        else:
            out.append(str(value))
    return out


def test_every_page_builds(site):
    import yaml

    class _Loader(yaml.SafeLoader):  # mkdocs.yml may hold !!python tags: ignore them
        pass

    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    nav = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)["nav"]
    pages = _nav_pages(nav)
    assert {"index.md", "models/garch.md", "models/hier-garch.md", "models/dfsv.md",
            "cli.md", "performance.md"} <= set(pages)
    for page in pages:
        name = "" if page == "index.md" else page.removesuffix(".md")
        assert (site / name / "index.html").stat().st_size > 0, page


def test_cli_reference_lists_every_command_and_option(site):
    """Generated from the typer app at build time, so it cannot drift from the code."""
    import typer.main

    import bayesvol.cli  # noqa: F401  (registers the commands)
    from bayesvol.cli.app import app

    html = _page(site, "cli")
    group = typer.main.get_command(app)
    assert set(group.commands) >= {"check", "demo", "fit", "forecast", "score", "simulate"}
    for name, command in group.commands.items():
        assert f"bayesvol {name}" in html, name
        for param in command.params:
            if param.param_type_name == "option":
                assert param.opts[0] in html, (name, param.opts[0])


def test_equations_are_mathml_and_tables_are_included(site):
    garch = _page(site, "models/garch")
    assert garch.count("<math") > 20
    assert 'class="arithmatex"' not in garch  # every formula was converted at build time
    performance = _page(site, "performance")
    # included from benchmarks/results/*.md, not copied
    for results in ("garch_vi.md", "hier_garch.md", "dfsv.md", "dfsv_sequential.md",
                    "latency.md"):
        lines = (ROOT / "benchmarks" / "results" / results).read_text().splitlines()
        heading = next(line for line in lines if line.startswith("### "))
        assert heading[4:].split(":")[0] in performance, results
    examples = _page(site, "examples")
    # the example scripts are included from examples/ (snippets), not pasted
    assert examples.count("BAYESVOL_EXAMPLES_SMALL") >= 3 and "--8&lt;--" not in examples


def test_api_reference_has_the_public_entry_points(site):
    html = _page(site, "api")
    for ident in ("bayesvol.fit", "bayesvol.Fit", "bayesvol.dfsv_fit.DfsvFit",
                  "bayesvol.dfsv_fit.fit_dfsv", "bayesvol.load_returns",
                  "bayesvol.simulate.garch.simulate_garch",
                  "bayesvol.forecast.garch_forecast.Forecast"):
        assert f'id="{ident}"' in html, ident

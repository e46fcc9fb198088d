"""MkDocs hooks of the bayesvol documentation (registered in mkdocs.yml).

1. The command-line reference. A page holding the marker ``<!-- cli-reference -->`` gets, in
   its place, one section per command of the installed ``bayesvol`` typer application: the
   usage line, the command's help text and a table of its arguments and options (name, type,
   default, help), read from the Click command that typer builds (``typer.main.get_command``).
   The reference therefore cannot drift from the code: a new option appears at the next build.

2. Equations without JavaScript. ``pymdownx.arithmatex`` (generic mode) marks ``$...$`` and
   ``$$...$$`` in the Markdown; this hook converts each marked formula to MathML with
   ``latex2mathml`` at build time, so the pages need no CDN and no script to show equations
   (every current browser renders MathML). A formula the converter cannot render fully is a
   build warning, hence an error under ``mkdocs build --strict``.
"""

from __future__ import annotations

import ast
import html
import inspect
import logging
import re
import sys
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.bayesvol")

CLI_MARKER = "<!-- cli-reference -->"
_DATACLASS = re.compile(r"<!-- dataclass: ([\w.]+) -->")
_SRC = Path(__file__).resolve().parent.parent / "src"
_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
_CODE = re.compile(r"<(pre|code)[^>]*>.*?</\1>", re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)


# ------------------------------------------------------------------------ CLI reference
def _import_cli():
    """The typer application and its Click command (imports no JAX)."""
    try:
        import bayesvol  # noqa: F401
    except ImportError:  # building from a checkout without an installed package
        sys.path.insert(0, str(_SRC))
    import typer.main

    import bayesvol.cli  # noqa: F401  (registers every command on the app)
    from bayesvol.cli.app import app

    return app, typer.main.get_command(app)


def _cell(text: object) -> str:
    """Text for a Markdown table cell (no newlines, pipes escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _type_name(annotation: object, is_flag: bool) -> str:
    if is_flag:
        return "flag"
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__",
                                                                  str(annotation))
    text = text.replace(" | None", "").replace("Optional[", "").rstrip("]")
    return {"Path": "path", "int": "integer", "float": "number", "str": "text",
            "bool": "flag"}.get(text, text)


def _default(param) -> str:
    if param.required:
        return "required"
    value = param.default
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "off" if not value else "on"
    return f"`{value}`"


def _command_section(name: str, command) -> str:
    signature = inspect.signature(command.callback) if command.callback else None
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    arguments = [p for p in params if p.param_type_name == "argument"]
    required = [p for p in params if p.param_type_name == "option" and p.required]
    usage = ["bayesvol", name] + [p.name.upper() for p in arguments]
    usage += [f"{p.opts[0]} {p.name.upper()}" for p in required] + ["[OPTIONS]"]
    lines = [f"## `bayesvol {name}`", "", "```text", " ".join(usage), "```", ""]
    help_text = inspect.cleandoc(command.help or "")
    if help_text:
        lines += [help_text, ""]
    lines += ["| argument or option | type | default | meaning |", "|---|---|---|---|"]
    for p in params:
        flag = bool(getattr(p, "is_flag", False))
        annotation = (signature.parameters[p.name].annotation
                      if signature is not None and p.name in signature.parameters else "")
        if p.param_type_name == "argument":
            label = f"`{p.name.upper()}`"
        else:
            label = " / ".join(f"`{o}`" for o in list(p.opts) + list(p.secondary_opts or []))
        lines.append(f"| {label} | {_type_name(annotation, flag)} | {_default(p)} | "
                     f"{_cell(getattr(p, 'help', None) or '')} |")
    lines.append("")
    return "\n".join(lines)


def cli_reference() -> str:
    """Markdown of every command of the ``bayesvol`` CLI (module docstring)."""
    _, group = _import_cli()
    sections = [_command_section(name, group.commands[name]) for name in sorted(group.commands)]
    return "\n".join(sections)


# ------------------------------------------------------- dataclasses griffe cannot reach
def dataclass_reference(dotted: str) -> str:
    """Markdown for a dataclass read from its source file (its docstring and a table of its
    fields with their types and defaults), for classes in folders without ``__init__.py``,
    which mkdocstrings cannot collect. Parsed with ``ast``: nothing is imported."""
    module, _, name = dotted.rpartition(".")
    path = _SRC.joinpath(*module.split(".")).with_suffix(".py")
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if node is None:
        log.warning("dataclass reference: no class %s in %s", name, path)
        return ""
    lines = [f"### `{dotted}`", "", inspect.cleandoc(ast.get_docstring(node) or ""), "",
             "| field | type | default |", "|---|---|---|"]
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            annotation = ast.get_source_segment(source, item.annotation) or ""
            default = ast.get_source_segment(source, item.value) if item.value else "required"
            lines.append(f"| `{item.target.id}` | `{_cell(annotation)}` | "
                         f"`{_cell(default)}` |")
    return "\n".join(lines + [""])


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Insert the generated CLI reference and dataclass tables where a page asks for them."""
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    return _DATACLASS.sub(lambda m: dataclass_reference(m.group(1)), markdown)


# ------------------------------------------------------------------------ equations
def _to_mathml(tex: str, display: str, page) -> str:
    from latex2mathml.converter import convert

    source = html.unescape(tex).strip()
    try:
        out = convert(source, display=display)
    except Exception as exc:  # noqa: BLE001  (any converter failure is reported, not raised)
        log.warning("%s: cannot convert the formula %r to MathML (%s)", page.file.src_uri,
                    source, exc)
        return f"<code>{html.escape(source)}</code>"
    text = re.sub(r"<[^>]+>", " ", out)
    if "\\" in text or "<mi>&amp;</mi>" in out or "<mi>&</mi>" in out or "merror" in out:
        log.warning("%s: the formula %r has commands MathML conversion does not support",
                    page.file.src_uri, source)
    return out


def on_page_content(content: str, page, config, files) -> str:
    """Replace arithmatex's marked formulas by MathML (module docstring), and warn about
    ``$$`` or ``\\(`` left in the prose (a formula arithmatex did not recognise)."""
    content = _BLOCK.sub(lambda m: '<div class="math-block">'
                         + _to_mathml(m.group(1), "block", page) + "</div>", content)
    content = _INLINE.sub(lambda m: _to_mathml(m.group(1), "inline", page), content)
    prose = _CODE.sub("", content)
    if "$$" in prose or "\\(" in prose:
        log.warning("%s: a formula was not recognised (a $$ block inside a list item needs "
                    "4 spaces of indentation, or none): %r", page.file.src_uri,
                    prose[max(prose.find("$$"), prose.find("\\("), 0):][:80])
    return content

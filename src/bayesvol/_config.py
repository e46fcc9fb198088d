"""Process-wide settings: float64, and the compilation cache, both on by default.

float64. Importing bayesvol switches JAX to 64-bit unless ``BAYESVOL_X64=0`` is set (float32
is an option for accelerators).

Compilation cache. A first fit in a Python session spends most of its time tracing its programs
(turning the Python model into a JAX program), lowering them to XLA and compiling them, not
computing: 19 s against 0.4 s for the same fit repeated, measured on 2 cores. Two caches on
disk, both on by default for the API and the CLI, keep that cost to the first run on a machine:

- JAX's persistent compilation cache (compiled XLA executables, keyed by JAX on the lowered
  program). Its thresholds are set to 0 so that small programs are cached too: JAX's default
  (only programs that took over 1 s to compile) left the many small programs of a fit to be
  compiled again in every process.
- Stored programs (:func:`call_stored`): the lowered program of a large jitted function is
  exported once (``jax.export``) and kept, keyed by everything that determines it, so a later
  process loads it instead of tracing the Python code again. Tracing the mode finder and the
  VI loop of a skewed-t GARCH took 2-6 s per process even with a warm compilation cache.

Where: ``$BAYESVOL_CACHE_DIR`` if set, else the user's cache folder (``$XDG_CACHE_HOME`` or
``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows) under
``bayesvol/jax``. ``BAYESVOL_CACHE=0`` turns both caches off; so does
``bayesvol.set_cache_dir(None)``, and ``set_cache_dir(path)`` moves them. A compilation-cache
folder the user configured for JAX itself (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config.update("jax_compilation_cache_dir", ...)`` before importing bayesvol) is left as
it is. The folder may be deleted at any time. Like JAX's own cache it is trusted: whoever can
write to it can make bayesvol run code, so do not point it at a folder others can write to.

Nothing here imports JAX (a 1-4 s import that ``bayesvol check`` and ``--help`` must not pay):
when JAX is already imported its config is updated, otherwise the setting goes into the
``JAX_*`` environment variable that JAX reads when it is imported (child processes inherit it).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

_OFF = ("0", "false", "no", "off")
_CACHE_DIR: str | None = None  # the folder in use, None when off (set at import below)


def _set(name: str, value: bool | float | str | None) -> None:
    """Set JAX config option ``name`` now if JAX is loaded, else through its environment."""
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "config"):
        jax.config.update(name, value)
    elif value is None:
        os.environ.pop(name.upper(), None)
    else:
        os.environ[name.upper()] = ("1" if value else "0") if isinstance(value, bool) else str(
            value)


def enable_x64() -> None:
    """Turn on JAX float64 unless the user opted out with BAYESVOL_X64=0."""
    if os.environ.get("BAYESVOL_X64", "1") != "0":
        _set("jax_enable_x64", True)


def default_cache_dir() -> str | None:
    """The cache folder from the environment: None when ``BAYESVOL_CACHE=0``, else
    ``$BAYESVOL_CACHE_DIR`` or the platform's user cache folder + ``bayesvol/jax``."""
    if os.environ.get("BAYESVOL_CACHE", "1").strip().lower() in _OFF:
        return None
    explicit = os.environ.get("BAYESVOL_CACHE_DIR")
    if explicit:
        return os.path.expanduser(explicit)
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        base = os.path.join(home, "Library", "Caches")
    elif sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    return os.path.join(base, "bayesvol", "jax")


def _jax_dir_set_by_user() -> bool:
    """Whether JAX's compilation cache folder was configured outside bayesvol."""
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "config"):
        current = jax.config.jax_compilation_cache_dir
        return bool(current) and current != os.environ.get("_BAYESVOL_JAX_CACHE_SET")
    env = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    return bool(env) and env != os.environ.get("_BAYESVOL_JAX_CACHE_SET")


def _reset_jax_cache() -> None:
    """Make JAX re-read its cache settings at the next compilation (after it has compiled)."""
    if "jax" not in sys.modules:
        return
    try:
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except Exception:  # a private API: without it the new folder applies from the next process
        pass


def set_cache_dir(path: str | os.PathLike | None) -> str | None:
    """Move both compilation caches to ``path``, or turn them off with None.

    Returns the folder now in use (None when off). Takes effect for programs compiled after
    the call. The default comes from :func:`default_cache_dir` (``BAYESVOL_CACHE_DIR``,
    ``BAYESVOL_CACHE=0``). A folder that cannot be created turns the caches off rather than
    failing a fit.
    """
    global _CACHE_DIR
    folder = None if path is None else os.path.abspath(os.path.expanduser(os.fspath(path)))
    if folder is not None:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:  # a read-only home must never break a run
            folder = None
    _CACHE_DIR = folder
    _PROGRAMS.clear()
    _reset_jax_cache()
    if folder is None:
        _set("jax_compilation_cache_dir", None)
        os.environ.pop("_BAYESVOL_JAX_CACHE_SET", None)
        return None
    _set("jax_compilation_cache_dir", folder)
    os.environ["_BAYESVOL_JAX_CACHE_SET"] = folder  # marks the JAX setting as ours
    _set("jax_persistent_cache_min_compile_time_secs", 0.0)
    _set("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def cache_dir() -> str | None:
    """The folder the compilation caches use now (None when they are off)."""
    return _CACHE_DIR


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Turn the caches on at ``path`` or the default folder (unless turned off by the
    environment, or JAX's own cache folder was configured by the user). Returns the folder."""
    global _CACHE_DIR
    if path is None and _jax_dir_set_by_user():
        _CACHE_DIR = None  # the user's JAX folder serves compiled code; no stored programs
        return None
    folder = path or default_cache_dir()
    if folder is None:
        _CACHE_DIR = None
        return None
    return set_cache_dir(folder)


# ------------------------------------------------------------------------ stored programs
_PROGRAMS: dict[Any, Callable] = {}  # in-process: signature -> callable on flat leaves
_MAX_PROGRAMS = 256
_FINGERPRINT: list[str] = []  # computed once per process
_STALE_DAYS = 14  # stored programs of another source or library version, unused this long,
# are deleted when a new version first stores one


def _environment_fingerprint() -> str:
    """What a traced program depends on besides its own key: the bayesvol source, the versions
    of the libraries that trace it, JAX's numerics flags and the backend."""
    if _FINGERPRINT:
        return _FINGERPRINT[0]
    import jax

    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for file in sorted(root.rglob("*.py")):
        h.update(str(file.relative_to(root)).encode())
        h.update(file.read_bytes())
    from importlib import metadata

    for dist in ("jax", "jaxlib", "numpyro", "optax", "numpy"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(dist.encode())
    for flag in ("jax_enable_x64", "jax_default_prng_impl", "jax_threefry_partitionable",
                 "jax_numpy_dtype_promotion", "jax_default_matmul_precision",
                 "jax_enable_checks", "jax_debug_nans"):
        h.update(f"{flag}={getattr(jax.config, flag, None)}".encode())
    h.update(jax.default_backend().encode())
    _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def call_stored(name: str, key: str, build: Callable[[], Callable], *args: Any) -> Any:
    """``jax.jit(build())(*args)``, with the traced program kept on disk between processes.

    ``build`` makes the function only when it has to be traced (building it may import
    modules, e.g. optax for the VI loop, that a loaded program does not need). ``key`` must
    determine everything the function closes over (a model's and its options' repr);
    the argument structure, shapes and dtypes, the bayesvol source, the library versions and
    JAX's numerics flags are added to it here. The first call with a new key traces the
    function, exports the lowered program (``jax.export``) and writes it under the cache
    folder; later processes load it, so they skip tracing and lowering, and JAX's
    compilation cache then supplies the executable. Within a process the loaded program is
    kept in memory. Results are those of ``jax.jit(build())``: the same program is compiled.

    Without a cache folder, or if exporting fails (a program with host callbacks cannot be
    exported), it is plain ``jax.jit``. A stored file that cannot be read is replaced.
    """
    import jax
    import jax.numpy as jnp

    leaves, treedef = jax.tree_util.tree_flatten(args)
    leaves = [jnp.asarray(x) for x in leaves]
    avals = tuple((x.shape, str(x.dtype), bool(getattr(x, "weak_type", False))) for x in leaves)
    sig = (name, key, str(treedef), avals)
    program = _PROGRAMS.get(sig)
    if program is None:
        program = _program(sig, build, treedef, leaves)
        if len(_PROGRAMS) >= _MAX_PROGRAMS:  # bound memory: forget the oldest
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[sig] = program
    return program(*leaves)


def _program(sig: tuple, build: Callable[[], Callable], treedef, leaves: list) -> Callable:
    """The callable for one signature (on flat leaves): a loaded or fresh export, else jit."""
    import jax

    def plain():
        fn = build()

        def flat(*xs):
            return fn(*jax.tree_util.tree_unflatten(treedef, xs))

        flat.__name__ = flat.__qualname__ = sig[0]
        return jax.jit(flat)

    if _CACHE_DIR is None:
        return plain()
    try:
        folder = Path(_CACHE_DIR) / "programs" / _environment_fingerprint()[:24]
        digest = hashlib.sha256(repr(sig).encode()).hexdigest()
        path = folder / f"{sig[0]}-{digest[:40]}.jaxprog"
    except Exception:
        return plain()
    exported = None
    if path.exists():
        try:
            exported = _read(path, repr(sig))
            os.utime(folder)  # marks this version's programs as in use (see _prune)
        except Exception:  # unreadable or from another version: export again
            exported = None
    if exported is None:
        jitted = plain()
        try:
            from jax import export

            exported = export.export(jitted)(*leaves)
        except Exception:  # not exportable: traced again in every process
            return jitted
        if not folder.exists():
            _prune(folder.parent)
        _write(path, repr(sig), exported)

    def stored(*xs):
        return exported.call(*xs)

    stored.__name__ = stored.__qualname__ = f"stored_{sig[0]}"  # names it in compile logs
    return jax.jit(stored)


def _prune(root: Path) -> None:
    """Delete the stored programs of other versions that have not been used for a while."""
    import shutil
    import time

    try:
        for old in root.iterdir():
            if old.is_dir() and time.time() - old.stat().st_mtime > _STALE_DAYS * 86400:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass


_MAGIC = b"bayesvol-stored-program-2\n"
_TRUSTED_MODULES = ("bayesvol.", "optax.", "numpyro.", "jax.")
_REGISTERED: set[str] = set()


def _namedtuple_names(treedef) -> list[str]:
    """'module:qualname' of every NamedTuple node in a pytree structure (e.g. JointStart,
    optax states): JAX serialises those only once they are registered by name."""
    found: list[str] = []
    stack = [treedef]
    while stack:
        node = stack.pop()
        data = node.node_data()
        if data is not None:
            cls = data[0]
            if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields"):
                found.append(f"{cls.__module__}:{cls.__qualname__}")
        stack.extend(node.children())
    return sorted(set(found))


def _register(names: list[str]) -> None:
    """Register NamedTuple types (by 'module:qualname') for JAX's export serialisation.
    Only types of bayesvol and the libraries it runs on are imported."""
    import importlib

    from jax import export

    for name in names:
        if name in _REGISTERED:
            continue
        module, _, qualname = name.partition(":")
        if not (module + ".").startswith(_TRUSTED_MODULES):
            raise ValueError(f"stored program names a type outside bayesvol: {name}")
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        try:
            export.register_namedtuple_serialization(obj, serialized_name=name)
        except ValueError:  # registered already (by another copy of this code)
            pass
        _REGISTERED.add(name)


def _read(path: Path, sig: str):
    """The Exported stored at ``path`` if it was stored for ``sig``, else None.

    File layout: a magic line; the signature's length (8 bytes, little-endian) and its UTF-8
    text; the length and JSON list of the NamedTuple types in the program's argument and
    result structures; then JAX's own serialisation of the Exported (``Exported.serialize``,
    a flatbuffer). No pickle: loading a file runs no code from it.
    """
    import json

    from jax import export

    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        return None
    at = len(_MAGIC)
    fields = []
    for _ in range(2):
        n = int.from_bytes(data[at:at + 8], "little")
        fields.append(data[at + 8:at + 8 + n].decode("utf-8", errors="replace"))
        at += 8 + n
    if fields[0] != sig:
        return None
    _register(json.loads(fields[1]))
    return export.deserialize(bytearray(data[at:]))


def _write(path: Path, sig: str, exported) -> None:
    """Store ``exported`` for ``sig`` (layout in :func:`_read`) under a temporary name, then
    rename it, so that concurrent writers never leave a partial file."""
    import json

    tmp = None
    try:
        names = sorted(set(_namedtuple_names(exported.in_tree)
                           + _namedtuple_names(exported.out_tree)))
        _register(names)
        blob = exported.serialize()
        head = b"".join(len(x).to_bytes(8, "little") + x
                        for x in (sig.encode("utf-8"), json.dumps(names).encode("utf-8")))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".jaxprog")
        with os.fdopen(fd, "wb") as fh:
            fh.write(_MAGIC + head + bytes(blob))
        os.replace(tmp, path)
    except Exception:  # not serialisable, or a full or read-only disk: the next process traces
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


enable_x64()
enable_compilation_cache()

"""Loading Visma's .NET wrapper into this process, once, and checking it has every name redhorn calls.

pythonnet hosts one .NET runtime per process, for the process's life: .NET Framework on Windows
(where Visma Business runs), Mono elsewhere. It starts on the first `load_wrapper`, at startup of a
server whose settings choose the wrapper writer, never on import. The assemblies come from
`VismaConnection.VbsAssemblyPath`; each name of `wrapper_names.NAMES` is then looked up by
reflection, so that a missing file, or a wrapper of a version that lacks a member the driver calls,
stops startup with one line naming the folder and what is missing, instead of failing a write later.
"""

from __future__ import annotations

import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redhorn.errors import WrapperLoadError
from redhorn.writers.wrapper_names import ASSEMBLIES, NAMES, SERVICE_MODEL_ASSEMBLY

_lock = threading.Lock()
_loaded: dict[Path, WrapperRuntime] = {}


@dataclass(frozen=True)
class WrapperRuntime:
    """The loaded wrapper: its .NET types by the table's keys, and which optional members it has."""

    folder: Path
    version: str
    types: dict[str, Any]
    missing_optional: frozenset[str] = field(default_factory=frozenset)

    def type(self, key: str) -> Any:
        return self.types[key]

    def has(self, key: str) -> bool:
        return key not in self.missing_optional


def load_wrapper(folder: Path) -> WrapperRuntime:
    """The wrapper in `folder`, loaded on the first call and the same object after.

    Raises:
        WrapperLoadError: the folder or an assembly is missing, the runtime cannot start, or a type
            or member of the table is not there.
    """
    folder = folder.resolve()
    with _lock:
        runtime = _loaded.get(folder)
        if runtime is None:
            runtime = _loaded[folder] = _load(folder)
        return runtime


def _load(folder: Path) -> WrapperRuntime:
    where = f"VismaConnection.VbsAssemblyPath {str(folder)!r}"
    if not folder.is_dir():
        raise WrapperLoadError(f"{where} is not a folder: Visma's wrapper assemblies are looked for there")
    files = [folder / f"{name}.dll" for name in ASSEMBLIES]
    for path in files:
        if not path.is_file():
            raise WrapperLoadError(f"{where} has no {path.name}: Visma's wrapper assemblies are looked for there")
    clr = _start_runtime()
    from System.Reflection import Assembly

    assemblies = []
    for path in files:
        try:
            assemblies.append(Assembly.LoadFrom(str(path)))
        except Exception as exc:  # a .NET BadImageFormatException, FileLoadException, ...
            raise WrapperLoadError(f"{where}: {path.name} cannot be loaded ({type(exc).__name__})") from None
    clr.AddReference(SERVICE_MODEL_ASSEMBLY)
    system_assemblies = [Assembly.Load(SERVICE_MODEL_ASSEMBLY), Assembly.Load("mscorlib")]
    wrapper = assemblies[-1]
    version = f"{wrapper.GetName().Name} {wrapper.GetName().Version}"
    types, missing = _resolve(assemblies + system_assemblies, f"{where} ({version})")
    return WrapperRuntime(folder, version, types, frozenset(missing))


def _start_runtime() -> Any:
    """pythonnet's `clr`, the runtime started if it was not: .NET Framework on Windows, Mono elsewhere."""
    try:
        import pythonnet
    except ImportError:
        raise WrapperLoadError(
            "VismaConnection.VbsWriter is 'wrapper', and pythonnet is not installed (pip install redhorn[wrapper])"
        ) from None
    try:
        if sys.platform != "win32" and pythonnet.get_runtime_info() is None:
            from clr_loader import get_mono

            with warnings.catch_warnings():
                # clr_loader warns that Mono before 6.12 is "known to be problematic"; the driver's calls
                # are plain method calls on one thread at a time, which Mono 6.8 runs.
                warnings.simplefilter("ignore")
                pythonnet.set_runtime(get_mono())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pythonnet.load()
        import clr
    except Exception as exc:
        raise WrapperLoadError(f"The .NET runtime for Visma's wrapper cannot start: {exc}") from None
    return clr


def _resolve(assemblies: list[Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """Every entry of the table as the .NET type it yields; entries are in dependency order."""
    types: dict[str, Any] = {}
    missing: list[str] = []
    for key, entry in NAMES.items():
        if entry.kind == "type":
            found = next((t for a in assemblies if (t := a.GetType(entry.name)) is not None), None)
            if found is None:
                raise WrapperLoadError(f"{where} has no type {entry.name}: a wrapper version redhorn does not know")
            types[key] = found
            continue
        assert entry.on is not None
        if entry.on in missing:
            missing.append(key)
            continue
        holder = _item_type(types[entry.on])
        result = _member_type(holder, entry.kind, entry.name, entry.arity)
        if result is None:
            if entry.optional:
                missing.append(key)
                continue
            raise WrapperLoadError(
                f"{where} has no {entry.kind} {holder.FullName}.{entry.name}: a wrapper version redhorn does not know"
            )
        types[key] = result
    return types, missing


def _member_type(holder: Any, kind: str, name: str, arity: int | None) -> Any:
    """What a member of `holder` yields (a method's return type, a property's type), or None if it has none such."""
    if kind == "constructor":
        found = [c for c in holder.GetConstructors() if arity is None or len(c.GetParameters()) == arity]
        return holder if found else None
    if kind == "enum member":
        return holder if holder.IsEnum and name in list(holder.GetEnumNames()) else None
    if kind == "property":
        found = holder.GetProperty(name)
        return found.PropertyType if found is not None else None
    methods = [m for m in holder.GetMethods() if m.Name == name and (arity is None or len(m.GetParameters()) == arity)]
    return methods[0].ReturnType if methods else None


def _item_type(holder: Any) -> Any:
    """A collection's item type (List<T>, T[]), so that a member of its rows is found on the rows."""
    if holder.IsArray:
        return holder.GetElementType()
    if holder.IsGenericType and holder.FullName.startswith("System.Collections."):
        arguments = holder.GetGenericArguments()
        return arguments[len(arguments) - 1]
    return holder

"""Code fingerprints: which code of the user's project a step reaches, function by function.

A step's fingerprint is made of the normalised source of its function and of every
function, method, class and module-level value of the user's project that it reaches,
transitively: through the globals it names (``helpers.moving_average``, ``from``
imports), modules imported inside function bodies (``import dataset`` then
``dataset.transform_data(...)``), the classes it names (each method, a model's
``forward``, and its base classes of the project), default arguments and closures.

*Normalised*: parsed with :mod:`ast`, docstrings removed, then written back with
:func:`ast.unparse`, so comments, docstrings, formatting and blank lines do not count.
Each reached piece has its own digest (the SHA-256 of that text), named by its
qualified name (``train.train``, ``model.Model.forward``, ``helpers.WINDOW``): editing
``helpers.peak`` leaves a step that reaches only ``helpers.moving_average`` alone.

*The user's project* is the code outside the standard library and the installed
packages; phyper's own packages never count. Hyperparameters are not code: the
:class:`phyper.Parser` subclasses (and their mixins), instances, lists of them and
:class:`phyper.Pipeline` objects are skipped, as they are tracked by hashes and by the
non-key values of the records. The third-party distributions the reached code imports
are listed with their versions (a warning in ``phyper status`` when they differ, never
a rerun).

What cannot be followed (a module imported by a computed name, ``getattr`` with a
computed name, ``eval``/``exec``, a C extension of the project, a function without
source) is said in :attr:`StepCode.warnings`, never raised.

Pure standard library; computed once per step function per process.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import os
import sys
import sysconfig
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CodePiece", "StepCode", "clear_code_cache", "step_code"]


@dataclass(frozen=True)
class CodePiece:
    """One reached function, method, class body or module-level value."""

    name: str
    """Qualified name: ``module.function``, ``module.Class.method``, ``module.VALUE``."""
    source: str
    """The normalised source (what the digest is of)."""

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 of :attr:`source`, in hex."""
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StepCode:
    """The code a step reaches today."""

    pieces: dict[str, CodePiece]
    """Qualified name -> piece, for every piece of the user's project reached."""
    modules: tuple[str, ...]
    """Top-level names of the third-party modules the reached code uses."""
    warnings: tuple[str, ...] = ()
    """What could not be followed (one line each)."""
    digest: str = field(default="")
    """SHA-256 over every piece's name and digest: equal digests, same code."""

    @property
    def functions(self) -> dict[str, str]:
        """Qualified name -> digest of each piece."""
        return {name: piece.digest for name, piece in sorted(self.pieces.items())}

    @functools.cached_property
    def packages(self) -> dict[str, str]:
        """Distribution -> installed version, for the third-party modules used (computed on demand)."""
        return _distributions(self.modules)


def _combined_digest(pieces: dict[str, CodePiece]) -> str:
    digest = hashlib.sha256()
    for name in sorted(pieces):
        digest.update(f"{name}\0{pieces[name].digest}\n".encode())
    return digest.hexdigest()


# -- where a module lives ------------------------------------------------------------


@functools.cache
def _library_folders() -> tuple[str, ...]:
    folders = {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return tuple(os.path.join(os.path.realpath(folder), "") for folder in folders if folder)


def _is_phyper(module_name: str) -> bool:
    top = module_name.partition(".")[0]
    return top == "phyper" or top.startswith("phyper_")


@functools.cache
def _module_kind(module_name: str) -> str:
    """``user``, ``third-party``, ``stdlib`` or ``phyper`` for a loaded module name."""
    if _is_phyper(module_name):
        return "phyper"
    top = module_name.partition(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return "stdlib"
    module = sys.modules.get(module_name) or sys.modules.get(top)
    path = getattr(module, "__file__", None)
    if not isinstance(path, str):
        # a namespace package or a module made in memory: the project's if not installed
        return "user" if module is not None and not _installed(top) else "third-party"
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts or real.startswith(_library_folders()):
        return "third-party"
    return "user"


def _installed(top: str) -> bool:
    return top in _top_level_distributions()


@functools.cache
def _top_level_distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return dict(importlib.metadata.packages_distributions())


def _distributions(modules: tuple[str, ...]) -> dict[str, str]:
    import importlib.metadata

    found: dict[str, str] = {}
    for top in modules:
        for name in _top_level_distributions().get(top, []):
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
    return dict(sorted(found.items()))


def _is_hyperparameters(value: Any) -> bool:
    """A Parser subclass or instance, a Pipeline, a list of instances: tracked by hashes, not code."""
    if isinstance(value, type):
        return any(_is_phyper(getattr(base, "__module__", "") or "") for base in value.__mro__)
    if isinstance(value, (list, tuple)) and value:
        return _is_hyperparameters(value[0])
    return _is_hyperparameters(type(value))


def _hyperparameter_mixins(module: types.ModuleType) -> set[int]:
    """Ids of the classes in the MRO of the module's Parser subclasses (their mixins too)."""
    mixins: set[int] = set()
    for value in list(vars(module).values()):
        if isinstance(value, type) and _is_hyperparameters(value):
            mixins.update(id(base) for base in value.__mro__)
    return mixins


# -- normalised syntax trees ------------------------------------------------------------

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (*_SCOPES, ast.Module)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


class _ModuleSource:
    """A module's file parsed once: its functions and classes by qualified name."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.by_qualname: dict[str, list[ast.AST]] = {}
        self.lambdas: dict[int, list[ast.Lambda]] = {}
        self._index(tree.body, "")
        for node in ast.walk(tree):
            if isinstance(node, ast.Lambda):
                self.lambdas.setdefault(node.lineno, []).append(node)

    def _index(self, body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            for child in self._scopes_in(node):
                qualname = prefix + child.name
                self.by_qualname.setdefault(qualname, []).append(child)
                inner = qualname + ("." if isinstance(child, ast.ClassDef) else ".<locals>.")
                self._index(child.body, inner)

    @staticmethod
    def _scopes_in(node: ast.stmt) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
        # definitions under if/try/with at the same level keep their qualified name
        if isinstance(node, _SCOPES):
            yield node
            return
        for name in ("body", "orelse", "finalbody", "handlers"):
            for child in getattr(node, name, []) or []:
                if isinstance(child, ast.stmt | ast.excepthandler):
                    yield from _ModuleSource._scopes_in(child)  # type: ignore[arg-type]

    def assignments(self, name: str) -> list[ast.stmt]:
        """The module-level statements that bind ``name`` (assignments, in order)."""
        found: list[ast.stmt] = []
        for node in self.tree.body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            names = {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
            if name in names:
                found.append(node)
        return found


@functools.cache
def _parsed(path: str, size: int, mtime_ns: int) -> _ModuleSource | None:
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    return _ModuleSource(tree)


def _module_source(module: types.ModuleType) -> _ModuleSource | None:
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _parsed(path, info.st_size, info.st_mtime_ns)


def _unparse(node: ast.AST) -> str:
    import copy

    return ast.unparse(_strip_docstrings(copy.deepcopy(node)))


# -- following references -------------------------------------------------------------

_DYNAMIC_CALLS = {
    "getattr": "getattr with a computed name",
    "import_module": "a module imported by a computed name",
    "__import__": "a module imported by a computed name",
    "eval": "eval",
    "exec": "exec",
}


class _Walker:
    def __init__(self, step_name: str) -> None:
        self.step_name = step_name
        self.pieces: dict[str, CodePiece] = {}
        self.modules: set[str] = set()
        self.warnings: list[str] = []
        self._seen: set[int] = set()
        self._keep: list[Any] = []  # what _seen holds ids of stays alive while walking

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # an object the step reaches --------------------------------------------------------

    def reach(self, value: Any) -> None:
        if id(value) in self._seen:
            return
        self._seen.add(id(value))
        self._keep.append(value)
        if isinstance(value, types.ModuleType):
            self._note_module(value.__name__)
            return
        if isinstance(value, functools.partial):
            # the partial's own arguments are part of the step's definition
            target = getattr(value.func, "__qualname__", type(value.func).__name__)
            arguments = [_literal(argument) for argument in value.args]
            arguments += [f"{name}={_literal(argument)}" for name, argument in sorted(value.keywords.items())]
            name = f"{getattr(value.func, '__module__', '')}.{target}(partial)"
            self.pieces[name] = CodePiece(name, f"functools.partial({target}, {', '.join(arguments)})")
            self.reach(value.func)
            for argument in (*value.args, *value.keywords.values()):
                self.reach_value(argument)
            return
        if isinstance(value, (types.MethodType, staticmethod, classmethod)):
            self.reach(value.__func__)
            return
        if isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                if accessor is not None:
                    self.reach(accessor)
            return
        if _is_hyperparameters(value):
            return
        if isinstance(value, types.FunctionType):
            self._function(value)
        elif isinstance(value, type):
            self._class(value)
        elif isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            module = getattr(value, "__module__", None) or ""
            if module and self._note_module(module) == "user":
                self.warn(f"{module}.{value.__name__} is compiled (a C extension): its changes are not tracked")
        elif callable(value) and not isinstance(value, (int, float, str, bytes)) and _module_kind(
            type(value).__module__
        ) == "user":
            self.reach(type(value))  # a callable object of the project: its class's code
        else:
            module = getattr(type(value), "__module__", "") or ""
            self._note_module(module)

    def reach_value(self, value: Any) -> None:
        """A value bound at definition time (a default, a partial's argument, a closure cell)."""
        if isinstance(value, (types.FunctionType, type, types.ModuleType, functools.partial, types.MethodType)):
            self.reach(value)
        elif isinstance(value, (list, tuple, set, frozenset)) and not _is_hyperparameters(value):
            for item in value:
                if isinstance(item, (types.FunctionType, type, functools.partial)):
                    self.reach(item)
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, (types.FunctionType, type, functools.partial)):
                    self.reach(item)
        else:
            self.reach(value)

    def _note_module(self, module_name: str) -> str:
        kind = _module_kind(module_name) if module_name else "stdlib"
        if kind == "third-party":
            self.modules.add(module_name.partition(".")[0])
        return kind

    # functions ------------------------------------------------------------------------

    def _function(self, function: types.FunctionType) -> None:
        wrapped = getattr(function, "__wrapped__", None)
        if wrapped is not None:
            self.reach(wrapped)
        module_name = function.__module__ or ""
        if self._note_module(module_name) != "user":
            return
        module = sys.modules.get(module_name)
        qualname = function.__qualname__
        name = f"{module_name}.{qualname}"
        node = self._function_node(function, module)
        if node is None:
            self.warn(f"{name}: no source (defined in memory?); only its compiled code is compared")
            code = function.__code__
            self.pieces[name] = CodePiece(name, repr((code.co_code, code.co_names, _constants(code))))
        else:
            self.pieces[name] = CodePiece(name, _unparse(node))
        for value in (*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()):
            self.reach_value(value)
        if function.__closure__:
            for cell_name, cell in zip(function.__code__.co_freevars, function.__closure__):
                try:
                    contents = cell.cell_contents
                except ValueError:  # an empty cell (a name assigned later)
                    continue
                if cell_name != "__class__":
                    self.reach_value(contents)
        if node is not None:
            self._references(node, function.__globals__, name)

    def _function_node(self, function: types.FunctionType, module: types.ModuleType | None) -> ast.AST | None:
        source = _module_source(module) if module is not None else None
        line = function.__code__.co_firstlineno
        if source is not None:
            if function.__name__ == "<lambda>":
                candidates: list[ast.AST] = list(source.lambdas.get(line, []))
                if candidates:
                    # several lambdas on one line: all of them (their order is fixed)
                    return candidates[0] if len(candidates) == 1 else ast.Tuple(elts=candidates, ctx=ast.Load())  # type: ignore[arg-type]
            else:
                nodes = source.by_qualname.get(function.__qualname__, [])
                if nodes:
                    return min(nodes, key=lambda node: abs(_first_line(node) - line))
        try:  # no file (a notebook cell, linecache): inspect finds the lines
            import textwrap

            tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        except (OSError, TypeError, SyntaxError, IndentationError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                return node
        return None

    # classes --------------------------------------------------------------------------

    def _class(self, cls: type) -> None:
        module_name = cls.__module__ or ""
        if self._note_module(module_name) != "user":
            return
        module = sys.modules.get(module_name)
        if module is not None and id(cls) in _hyperparameter_mixins(module):
            return
        for base in cls.__mro__[1:]:
            if base is not object:
                self.reach(base)
        name = f"{module_name}.{cls.__qualname__}"
        source = _module_source(module) if module is not None else None
        nodes = source.by_qualname.get(cls.__qualname__, []) if source is not None else []
        classes = [node for node in nodes if isinstance(node, ast.ClassDef)]
        if not classes:
            self.warn(f"{name}: no source; its changes are not tracked")
            return
        node = classes[-1]
        # the class without its methods is one piece; each method is its own
        methods = [child for child in node.body if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))]
        import copy

        header = copy.copy(node)  # the same fields (type_params on 3.12+), fewer statements
        header.body = [child for child in node.body if child not in methods] or [ast.Pass()]
        self.pieces[name] = CodePiece(name, _unparse(header))
        globals_ = vars(module) if module is not None else {}
        self._references(header, globals_, name)
        for method in methods:
            attribute = cls.__dict__.get(method.name)
            function = _underlying_function(attribute)
            if function is not None and function.__qualname__ == f"{cls.__qualname__}.{method.name}":
                self.reach(attribute)  # its defaults and closures too
            else:
                method_name = f"{name}.{method.name}"
                self.pieces[method_name] = CodePiece(method_name, _unparse(method))
                self._references(method, globals_, method_name)

    # names inside a body --------------------------------------------------------------

    def _references(self, node: ast.AST, globals_: dict[str, Any], where: str) -> None:
        local_imports: dict[str, Any] = {}
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    module = self._import(alias.name, where)
                    if module is None:
                        continue
                    if alias.asname:
                        local_imports[alias.asname] = module
                    else:
                        local_imports[alias.name.partition(".")[0]] = sys.modules.get(alias.name.partition(".")[0])
                        self.reach(module)
            elif isinstance(child, ast.ImportFrom):
                module_name = _absolute(child, globals_)
                module = self._import(module_name, where) if module_name else None
                if module is None:
                    continue
                for alias in child.names:
                    if alias.name == "*":
                        continue
                    value = getattr(module, alias.name, None)
                    if value is None:
                        value = self._import(f"{module_name}.{alias.name}", where)
                    if value is not None:
                        local_imports[alias.asname or alias.name] = value
            elif isinstance(child, ast.Call):
                self._dynamic(child, where)
        scope = {**globals_, **local_imports}
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Load):
                chain = _attribute_chain(child)
                if chain is None or chain[0] not in scope:
                    continue
                value = scope[chain[0]]
                for part in chain[1:]:
                    if not isinstance(value, types.ModuleType):
                        break
                    attribute = getattr(value, part, _MISSING)
                    if attribute is _MISSING:
                        attribute = self._import(f"{value.__name__}.{part}", where, quiet=True) or _MISSING
                    if attribute is _MISSING:
                        break
                    self._module_value(value, part, attribute)
                    value = attribute
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                if child.id in scope:
                    value = scope[child.id]
                    if isinstance(value, types.ModuleType):
                        self.reach(value)
                    elif child.id in globals_ and child.id not in local_imports:
                        module = sys.modules.get(globals_.get("__name__", ""))
                        if module is not None:
                            self._module_value(module, child.id, value)
                        else:
                            self.reach(value)
                    else:
                        self.reach(value)

    def _module_value(self, module: types.ModuleType, name: str, value: Any) -> None:
        """``module.name`` is used: a function/class is reached; a plain value is a piece."""
        if isinstance(value, (types.FunctionType, type, types.ModuleType, functools.partial, types.BuiltinFunctionType)):
            self.reach(value)
            return
        if _is_hyperparameters(value):
            return
        if _module_kind(module.__name__) != "user":
            self._note_module(module.__name__)
            return
        piece_name = f"{module.__name__}.{name}"
        if piece_name in self.pieces:
            return
        source = _module_source(module)
        statements = source.assignments(name) if source is not None else []
        if statements:
            self.pieces[piece_name] = CodePiece(piece_name, "\n".join(_unparse(statement) for statement in statements))
            for statement in statements:
                self._references(statement, vars(module), piece_name)
        elif isinstance(value, (int, float, complex, str, bytes, bool, type(None))):
            self.pieces[piece_name] = CodePiece(piece_name, repr(value))
        else:
            self.reach(value)

    def _import(self, name: str, where: str, *, quiet: bool = False) -> types.ModuleType | None:
        module = sys.modules.get(name)
        if module is not None:
            return module
        try:
            # the step imports it when it runs anyway: importing it here only comes first
            return importlib.import_module(name)
        except Exception:  # any import failure is a warning, never a crash
            if not quiet:
                self.warn(f"{where}: cannot import `{name}`; what it reaches there is not tracked")
            return None

    def _dynamic(self, call: ast.Call, where: str) -> None:
        function = call.func
        called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
        if called not in _DYNAMIC_CALLS:
            return
        position = 1 if called == "getattr" else 0
        argument = call.args[position] if len(call.args) > position else None
        if called in ("eval", "exec") or (argument is not None and not isinstance(argument, ast.Constant)):
            self.warn(
                f"{where} uses {_DYNAMIC_CALLS[called]} (line {call.lineno}): the code it reaches is not tracked"
            )


_MISSING = object()


def _literal(value: Any) -> str:
    """A value written as code when it is a plain literal, else the name of its type."""
    if isinstance(value, (int, float, complex, str, bytes, bool, type(None))):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return repr(type(value)(_literal(item) for item in value))
    return f"<{type(value).__qualname__}>"


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    lines: list[int] = [getattr(node, "lineno", 0), *(decorator.lineno for decorator in decorators)]
    return min(lines)


def _underlying_function(value: Any) -> types.FunctionType | None:
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        value = value.fget
    return value if isinstance(value, types.FunctionType) else None


def _constants(code: types.CodeType) -> tuple[Any, ...]:
    return tuple(_constants(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts)


def _attribute_chain(node: ast.Attribute) -> list[str] | None:
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    parts.append(current.id)
    return parts[::-1]


def _absolute(node: ast.ImportFrom, globals_: dict[str, Any]) -> str | None:
    if not node.level:
        return node.module
    package = globals_.get("__package__") or ""
    if not package:
        return None
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


# -- entry point ----------------------------------------------------------------------

_CACHE: dict[int, tuple[Any, StepCode]] = {}


def step_code(function: Callable[..., Any], step_name: str = "") -> StepCode:
    """The code ``function`` reaches today (computed once per function per process)."""
    cached = _CACHE.get(id(function))
    if cached is not None and cached[0] is function:
        return cached[1]
    walker = _Walker(step_name or getattr(function, "__name__", repr(function)))
    try:
        walker.reach(function)
    except RecursionError:
        walker.warn("the code is nested too deeply to follow entirely")
    pieces = dict(sorted(walker.pieces.items()))
    code = StepCode(pieces, tuple(sorted(walker.modules)), tuple(walker.warnings), _combined_digest(pieces))
    _CACHE[id(function)] = (function, code)
    return code


def clear_code_cache() -> None:
    """Forget every fingerprint computed in this process (after editing files in a test)."""
    _CACHE.clear()
    _parsed.cache_clear()
    _module_kind.cache_clear()

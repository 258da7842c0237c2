"""Code fingerprints: which code of the user's project a step reaches, function by function.

A step's fingerprint is made of the normalised source of its function and of every
function, method, class and module-level value of the user's project that it reaches,
transitively: through the globals it names (``helpers.moving_average``, ``from``
imports), modules imported inside function bodies (``import dataset`` then
``dataset.transform_data(...)``), the classes it names (each method, a model's
``forward``, and its base classes of the project), default arguments and closures.

*Normalised*: parsed with `ast`, docstrings removed, then written back with
`ast.unparse`, so comments, docstrings, formatting and blank lines do not count.
Each reached piece has its own digest (the SHA-256 of that text), named by its
qualified name (``train.train``, ``model.Model.forward``, ``helpers.WINDOW``): editing
``helpers.peak`` leaves a step that reaches only ``helpers.moving_average`` alone.

*The user's project* is the code outside the standard library and the installed
packages; phyper's own packages never count. Hyperparameters are not code: the
`phyper.Parser` subclasses (and their mixins), instances, lists of them and
`phyper.Pipeline` objects are skipped, as they are tracked by hashes and by the
non-key values of the records. The third-party distributions the reached code imports
are listed with their versions (a warning in ``phyper status`` when they differ, never
a rerun).

What cannot be followed (a module imported by a computed name, ``getattr`` with a
computed name, ``eval``/``exec``, a C extension of the project, a function without
source) is said in `StepCode.warnings`, never raised.

Pure standard library; computed once per step function per process.
"""

from __future__ import annotations

import ast
import functools
import hashlib
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
        """SHA-256 of `source`, in hex."""
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
        try:
            # most distributions are named as their module (torch, numpy): one lookup, not
            # a scan of every installed distribution (half a second in a job process)
            found[top] = importlib.metadata.version(top)
            continue
        except importlib.metadata.PackageNotFoundError:
            pass
        for name in _top_level_distributions().get(top, []):  # scikit-learn for sklearn, ...
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


class _StaticModule:
    """A module of the project known from its file alone: what each top-level name is bound to.

    Bindings: ``("def", node)`` for functions and classes, ``("value", None)`` for
    assignments, ``("module", name)`` for ``import x``, ``("from", module, name)`` for
    ``from module import name``. Nothing is imported: a module the step imports inside
    a function body is read, not executed, so an engine or ``phyper status`` never loads
    a step's heavy libraries.
    """

    def __init__(self, name: str, package: str, source: _ModuleSource) -> None:
        self.name = name
        self.package = package
        self.source = source
        self.bindings: dict[str, list[tuple[str, Any, Any]]] = {}
        for node in _top_level(source.tree.body):
            self._bind(node)

    def _bind(self, node: ast.stmt) -> None:
        if isinstance(node, _SCOPES):
            self.bindings.setdefault(node.name, []).append(("def", node, None))
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for bound in ast.walk(target):
                    if isinstance(bound, ast.Name):
                        self.bindings.setdefault(bound.id, []).append(("value", None, None))
        else:
            for name, binding in _import_bindings(node, self.package):
                self.bindings.setdefault(name, []).append(binding)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, those under ``if``/``try``/``with`` included."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)) or type(node).__name__ == "TryStar":
            for field_name in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(node, field_name, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                yield from _top_level(handler.body)


def _import_bindings(node: ast.AST, package: str) -> list[tuple[str, tuple[str, Any, Any]]]:
    """The names an ``import`` statement binds, and to what."""
    found: list[tuple[str, tuple[str, Any, Any]]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                found.append((alias.asname, ("module", alias.name, None)))
            else:
                top = alias.name.partition(".")[0]
                found.append((top, ("module", top, None)))
    elif isinstance(node, ast.ImportFrom):
        module = _absolute(node, package)
        if module is not None:
            for alias in node.names:
                if alias.name != "*":
                    found.append((alias.asname or alias.name, ("from", module, alias.name)))
    return found


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    if not node.level:
        return node.module
    if not package:
        return None
    parts = package.split(".")
    if node.level - 1 >= len(parts):
        return None
    base = ".".join(parts[: len(parts) - (node.level - 1)])
    return f"{base}.{node.module}" if node.module else base


def _locate(name: str) -> tuple[str | None, bool]:
    """(the file of module ``name``, whether it is a package), found without importing it."""
    import importlib.machinery

    module = sys.modules.get(name)
    if module is not None:
        path = getattr(module, "__file__", None)
        return (path if isinstance(path, str) else None), hasattr(module, "__path__")
    parent, _, child = name.rpartition(".")
    try:
        if parent:
            parent_path, is_package = _locate(parent)
            if parent_path is None or not is_package:
                return None, False
            spec = importlib.machinery.PathFinder.find_spec(child, [os.path.dirname(parent_path)])
        else:
            spec = importlib.machinery.PathFinder.find_spec(name)
    except (ImportError, ValueError):
        return None, False
    if spec is None:
        return None, False
    return spec.origin if spec.has_location else None, spec.submodule_search_locations is not None


@functools.cache
def _static_kind(name: str) -> str:
    """``user``, ``third-party``, ``stdlib`` or ``phyper`` for a module name, without importing it."""
    if _is_phyper(name):
        return "phyper"
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return "stdlib"
    path, _ = _locate(top)
    if path is None:
        return "third-party" if _installed(top) else "missing"
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts or real.startswith(_library_folders()):
        return "third-party"
    return "user"


def _static_module(name: str) -> _StaticModule | str:
    """The project's module ``name`` read from its file, or why it cannot be read."""
    path, is_package = _locate(name)
    if path is None:
        return "no such module"
    if not path.endswith(".py"):
        return "compiled (a C extension)"
    try:
        info = os.stat(path)
    except OSError:
        return "its file is gone"
    source = _parsed(path, info.st_size, info.st_mtime_ns)
    if source is None:
        return "its file does not parse"
    return _static_module_of(name, name if is_package else name.rpartition(".")[0], source)


@functools.cache
def _static_module_of(name: str, package: str, source: _ModuleSource) -> _StaticModule:
    return _StaticModule(name, package, source)


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

    def _note_module(self, module_name: str) -> str:
        kind = _static_kind(module_name) if module_name else "stdlib"
        if kind == "third-party":
            self.modules.add(module_name.partition(".")[0])
        return kind

    # the step itself: a Python object ----------------------------------------------

    def reach(self, value: Any) -> None:
        """An object bound to the step: the step function, a partial, a default, a closure cell."""
        if id(value) in self._seen:
            return
        self._seen.add(id(value))
        self._keep.append(value)
        if isinstance(value, types.ModuleType):
            self._note_module(value.__name__)
        elif isinstance(value, functools.partial):
            # the partial's own arguments are part of the step's definition
            target = getattr(value.func, "__qualname__", type(value.func).__name__)
            arguments = [_literal(argument) for argument in value.args]
            arguments += [f"{name}={_literal(argument)}" for name, argument in sorted(value.keywords.items())]
            name = f"{getattr(value.func, '__module__', '')}.{target}(partial)"
            self.pieces[name] = CodePiece(name, f"functools.partial({target}, {', '.join(arguments)})")
            self.reach(value.func)
            for argument in (*value.args, *value.keywords.values()):
                self.reach(argument)
        elif isinstance(value, (types.MethodType, staticmethod, classmethod)):
            self.reach(value.__func__)
        elif isinstance(value, (list, tuple, set, frozenset)):
            if not _is_hyperparameters(value):
                for item in value:
                    self.reach(item)
        elif isinstance(value, dict):
            for item in value.values():
                self.reach(item)
        elif _is_hyperparameters(value):
            return
        elif isinstance(value, types.FunctionType):
            self._function_object(value)
        elif isinstance(value, type):
            self._named(value.__module__, value.__qualname__)
        elif isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            module = getattr(value, "__module__", None) or ""
            if module and self._note_module(module) == "user":
                self.warn(f"{module}.{value.__name__} is compiled (a C extension): its changes are not tracked")
        elif callable(value) and not isinstance(value, (int, float, str, bytes)):
            self._named(type(value).__module__, type(value).__qualname__)  # a callable object: its class
        else:
            self._note_module(getattr(type(value), "__module__", "") or "")

    def _function_object(self, function: types.FunctionType) -> None:
        module_name = function.__module__ or ""
        if self._note_module(module_name) != "user":
            return
        module = sys.modules.get(module_name)
        if "<locals>" not in function.__qualname__ and function.__name__ != "<lambda>" and module is not None:
            static = _static_module(module_name)
            if isinstance(static, _StaticModule) and function.__name__ in static.bindings:
                self._named(module_name, function.__qualname__)
                self._bound_values(function)
                return
        # a lambda, a nested function, or a function with no file (a notebook cell)
        name = f"{module_name}.{function.__qualname__}"
        node = self._function_node(function, module)
        if node is None:
            self.warn(f"{name}: no source (defined in memory?); only its compiled code is compared")
            code = function.__code__
            self.pieces[name] = CodePiece(name, repr((code.co_code, code.co_names, _constants(code))))
            return
        self.pieces[name] = CodePiece(name, _unparse(node))
        self._bound_values(function)
        static = _static_module(module_name)
        if isinstance(static, _StaticModule):
            self._body(node, static, name)
        else:  # no file: the names are resolved in the function's globals, as Python would
            for child in ast.walk(node):
                if isinstance(child, ast.Name) and child.id in function.__globals__:
                    self.reach(function.__globals__[child.id])

    def _bound_values(self, function: types.FunctionType) -> None:
        """What the function object holds besides its code: defaults and closure cells."""
        for value in (*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()):
            if isinstance(value, (types.FunctionType, type, functools.partial)):
                self.reach(value)
        if function.__closure__:
            for cell_name, cell in zip(function.__code__.co_freevars, function.__closure__):
                try:
                    contents = cell.cell_contents
                except ValueError:  # an empty cell (a name assigned later)
                    continue
                if cell_name != "__class__":
                    self.reach(contents)

    def _function_node(self, function: types.FunctionType, module: types.ModuleType | None) -> ast.AST | None:
        source = _module_source(module) if module is not None else None
        line = function.__code__.co_firstlineno
        if source is not None:
            if function.__name__ == "<lambda>":
                candidates: list[ast.expr] = list(source.lambdas.get(line, []))
                if candidates:
                    # several lambdas on one line: all of them (their order is fixed)
                    return candidates[0] if len(candidates) == 1 else ast.Tuple(elts=candidates, ctx=ast.Load())
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

    # the code it reaches: read from the files ---------------------------------------

    def _named(self, module_name: str, qualname: str) -> None:
        """``module_name``'s top-level ``qualname`` (or ``Class.method``) is reached."""
        parts = qualname.split(".")
        if "<locals>" in parts:
            return
        self._resolve(module_name, parts[:1], "")

    def _resolve(self, module_name: str, chain: list[str], where: str) -> None:
        """Follow ``module_name.chain[0].chain[1]...`` as far as the project's code goes."""
        kind = self._note_module(module_name)
        if kind != "user":
            if kind == "missing" and where:
                self.warn(f"{where}: cannot find module `{module_name}`; what it reaches there is not tracked")
            return
        module = _static_module(module_name)
        if not isinstance(module, _StaticModule):
            self.warn(f"module {module_name}: {module}; its changes are not tracked")
            return
        if not chain:
            return
        name, rest = chain[0], chain[1:]
        bindings = module.bindings.get(name)
        if not bindings:
            located, _ = _locate(f"{module_name}.{name}")
            if located is not None:
                self._resolve(f"{module_name}.{name}", rest, where)
            return
        for kind_, first, second in bindings:
            if kind_ == "def":
                self._definition(module, first)
            elif kind_ == "value":
                self._value(module, name)
            elif kind_ == "module":
                self._resolve(first, rest, where)
            else:
                self._resolve(first, [second, *rest], where)

    def _definition(self, module: _StaticModule, node: Any) -> None:
        piece_name = f"{module.name}.{node.name}"
        if piece_name in self.pieces or self._is_parser_class(module, node):
            return
        if isinstance(node, ast.ClassDef):
            self._class(module, node, piece_name)
        else:
            self.pieces[piece_name] = CodePiece(piece_name, _unparse(node))
            self._body(node, module, piece_name)

    def _class(self, module: _StaticModule, node: ast.ClassDef, name: str) -> None:
        import copy

        # the class without its methods is one piece; each method is its own
        methods = [child for child in node.body if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))]
        header = copy.copy(node)  # the same fields (type_params on 3.12+), fewer statements
        header.body = [child for child in node.body if child not in methods] or [ast.Pass()]
        self.pieces[name] = CodePiece(name, _unparse(header))
        self._body(header, module, name)  # its bases, decorators, class attributes
        for method in methods:
            method_name = f"{name}.{method.name}"
            self.pieces[method_name] = CodePiece(method_name, _unparse(method))
            self._body(method, module, method_name)

    def _is_parser_class(self, module: _StaticModule, node: Any) -> bool:
        """A phyper.Parser subclass, or a mixin of one: hyperparameters, not code."""
        if not isinstance(node, ast.ClassDef):
            return False
        loaded = sys.modules.get(module.name)
        value = getattr(loaded, node.name, None) if loaded is not None else None
        if isinstance(value, type):
            return _is_hyperparameters(value) or id(value) in _hyperparameter_mixins(loaded)  # type: ignore[arg-type]
        # a module not loaded (rare: the grid's module is loaded with the pipeline)
        phyper_names = {"phyper.Parser"} | {
            name for name, bindings in module.bindings.items() if ("from", "phyper", "Parser") in bindings
        }
        return any(ast.unparse(base) in phyper_names for base in node.bases)

    def _value(self, module: _StaticModule, name: str) -> None:
        piece_name = f"{module.name}.{name}"
        if piece_name in self.pieces:
            return
        loaded = sys.modules.get(module.name)
        if loaded is not None and _is_hyperparameters(getattr(loaded, name, None)):
            return  # the grid, a parser, the pipeline: tracked by hashes
        statements = module.source.assignments(name)
        if not statements:
            return
        self.pieces[piece_name] = CodePiece(piece_name, "\n".join(_unparse(statement) for statement in statements))
        for statement in statements:
            self._body(statement, module, piece_name)

    def _body(self, node: ast.AST, module: _StaticModule, where: str) -> None:
        """Follow every name a definition uses: its own imports first, then the module's."""
        local: dict[str, list[tuple[str, Any, Any]]] = {}
        for child in ast.walk(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name, binding in _import_bindings(child, module.package):
                    local.setdefault(name, []).append(binding)
                    if binding[0] == "module":
                        self._resolve(binding[1], [], where)
            elif isinstance(child, ast.Call):
                self._dynamic(child, where)
        used: set[tuple[str, ...]] = set()
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Load):
                chain = _attribute_chain(child)
                if chain is not None:
                    used.add(tuple(chain))
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                used.add((child.id,))
        for names in sorted(used):
            head, rest = names[0], list(names[1:])
            if head in local:
                for kind, first, second in local[head]:
                    self._resolve(first, rest if kind == "module" else [second, *rest], where)
            elif head in module.bindings:
                self._resolve(module.name, [head, *rest], where)

    def _dynamic(self, call: ast.Call, where: str) -> None:
        function = call.func
        called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
        if called not in _DYNAMIC_CALLS or (isinstance(function, ast.Attribute) and called != "import_module"):
            return  # model.eval() is a method, not the builtin
        position = 1 if called == "getattr" else 0
        argument = call.args[position] if len(call.args) > position else None
        if called in ("eval", "exec") or (argument is not None and not isinstance(argument, ast.Constant)):
            self.warn(
                f"{where} uses {_DYNAMIC_CALLS[called]} (line {call.lineno}): the code it reaches is not tracked"
            )


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


# -- entry point ----------------------------------------------------------------------

_CACHE: dict[int, tuple[Any, StepCode]] = {}
"""A memo of `step_code` by function object: the fingerprint of a function object never changes
(editing a file makes new function objects when the module is imported again)."""


def step_code(function: Callable[..., Any], step_name: str = "") -> StepCode:
    """The code ``function`` reaches today (computed once per function object per process)."""
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
    """Forget every fingerprint and parsed source kept in this process (after editing files in a test)."""
    _CACHE.clear()
    _parsed.cache_clear()
    _static_kind.cache_clear()
    _static_module_of.cache_clear()

"""Public names show their public path: ``phyper.Pipeline``, not ``phyper._planning.pipeline.Pipeline``.

Tracebacks, ``repr`` and pickling name a class or function by its ``__module__``; a user
must never see (or come to depend on) a private module's name.
"""

from __future__ import annotations

import pickle
import traceback
import types

import phyper


def _owned(value: object) -> bool:
    return isinstance(value, (type, types.FunctionType))


def test_every_public_class_and_function_is_shown_under_phyper() -> None:
    owned = {name: getattr(phyper, name) for name in phyper.__all__ if _owned(getattr(phyper, name))}

    assert len(owned) > 40  # the classes, the exceptions, the functions, the lazy ones (collect, report)
    assert {name: "phyper" for name in owned} == {name: value.__module__ for name, value in owned.items()}
    assert "<class 'phyper.Pipeline'>" == repr(phyper.Pipeline)


def test_a_traceback_names_the_public_error() -> None:
    try:
        raise phyper.UnknownStepError("no step `trian`")
    except phyper.UnknownStepError as error:
        printed = traceback.format_exception(error)

    assert "phyper.UnknownStepError: no step `trian`\n" == printed[-1]


def test_public_names_still_pickle_by_reference() -> None:
    error = pickle.loads(pickle.dumps(phyper.UnknownStepError("no step `trian`")))

    assert (phyper.UnknownStepError, ("no step `trian`",)) == (type(error), error.args)
    assert phyper.run_job is pickle.loads(pickle.dumps(phyper.run_job))

"""A search's budget (fidelity) and pruner are checked when the search is declared, before anything runs."""

from __future__ import annotations

import pytest

import phyper


class Budgeted(phyper.Parser):
    lr = 0.1
    width = 8
    n_epochs = 10
    fold = 0


class RunOnly:
    n_workers = 1


class WithNonKeyEpochs(phyper.Parser, RunOnly):
    lr = 0.1


@pytest.fixture
def parser() -> Budgeted:
    made = Budgeted(hashed_resources_folder='derived')
    made.register_new_resource(name='model', dependencies=['lr', 'width', 'n_epochs'])
    return made


def search(parser: phyper.Parser, **changes: object) -> phyper.Search:
    settings: dict[str, object] = {
        'space': {'lr': phyper.log_uniform(1e-4, 1e-1), 'width': phyper.int_range(4, 32)},
        'expand': {'fold': [0, 1]}, 'objective': 'score', 'group_by': 'model',
        'fidelity': phyper.budget('n_epochs', low=10, high=270, factor=3), 'pruner': 'hyperband',
    }
    settings.update(changes)
    return phyper.Search(parser, **settings)  # type: ignore[arg-type]


def test_a_budget_climbs_by_its_factor_up_to_the_full_budget() -> None:
    assert (10, 30, 90, 270) == phyper.budget('n_epochs', low=10, high=270, factor=3).rungs
    assert (10, 30, 90, 100) == phyper.budget('n_epochs', low=10, high=100, factor=3).rungs
    assert (1, 2, 4, 8) == phyper.budget('n_epochs', rungs=[1, 2, 4, 8]).rungs
    assert (0.25, 0.5, 1.0) == phyper.budget('fraction', low=0.25, high=1.0, factor=2).rungs


def test_a_search_with_a_budget_and_a_pruner_is_declared(parser: Budgeted) -> None:
    declared = search(parser)

    assert ('n_epochs', (10, 30, 90, 270), 'hyperband') == (declared.fidelity.key, declared.fidelity.rungs, declared.pruner)  # type: ignore[union-attr]


def test_a_pruner_object_is_taken_as_it_is(parser: Budgeted) -> None:
    class EveryOther:
        def prune(self, study: object, trial: object) -> bool:
            return False

    pruner = EveryOther()

    assert pruner is search(parser, pruner=pruner).pruner


@pytest.mark.parametrize(
    ('arguments', 'message'),
    [
        ({'low': 10, 'high': 270, 'factor': 1}, "factor=1 gives rungs that do not increase"),
        ({'rungs': [10, 30, 30]}, "the rungs 10, 30, 30 do not increase"),
        ({'rungs': [90, 30]}, "the rungs 90, 30 do not increase"),
        ({'low': 10}, "give low= and high="),
        ({'low': 0, 'high': 10}, "low=0 must be above 0"),
        ({'low': 10, 'high': 270, 'rungs': [10]}, "either rungs=[...] or low=/high=/factor=, not both"),
        ({'rungs': []}, "lists no budget"),
        ({'low': 'ten', 'high': 270}, "low='ten' must be a finite number"),
    ],
)
def test_a_budget_whose_rungs_do_not_increase_is_refused(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(phyper.SearchDefinitionError) as raised:
        phyper.budget('n_epochs', **arguments)  # type: ignore[arg-type]

    assert message in str(raised.value)


def test_a_fidelity_that_is_also_searched_or_expanded_is_refused(parser: Budgeted) -> None:
    with pytest.raises(phyper.SearchDefinitionError) as searched:
        search(parser, space={'lr': phyper.log_uniform(1e-4, 1e-1), 'n_epochs': phyper.int_range(10, 270)})
    with pytest.raises(phyper.SearchDefinitionError) as expanded:
        search(parser, expand={'fold': [0, 1], 'n_epochs': [10, 30]})

    assert "the fidelity `n_epochs` is also in space=" in str(searched.value)
    assert "the fidelity `n_epochs` is also in expand=" in str(expanded.value)


def test_a_fidelity_that_names_a_non_key_is_refused() -> None:
    parser = WithNonKeyEpochs()

    with pytest.raises(phyper.SearchDefinitionError) as raised:
        phyper.Search(parser, space={'lr': phyper.log_uniform(1e-4, 1e-1)}, objective='score',
                      fidelity=phyper.budget('n_workers', low=1, high=9))

    assert "the fidelity `n_workers` is a non-key" in str(raised.value)
    assert "make `n_workers` a key" in str(raised.value)


def test_a_fidelity_that_names_no_hyperparameter_says_which_one_was_meant(parser: Budgeted) -> None:
    with pytest.raises(phyper.UnknownHyperparameterError) as raised:
        search(parser, fidelity=phyper.budget('n_epoch', low=10, high=90))

    assert "n_epochs" in str(raised.value)


def test_a_pruner_without_a_fidelity_or_an_unknown_pruner_is_refused(parser: Budgeted) -> None:
    with pytest.raises(phyper.SearchDefinitionError) as without:
        search(parser, fidelity=None, pruner='median')
    with pytest.raises(phyper.SearchDefinitionError) as misspelt:
        search(parser, pruner='hyperbnad')
    with pytest.raises(phyper.SearchDefinitionError) as other:
        search(parser, pruner=42)

    assert "pruner='median' needs a budget to prune along" in str(without.value)
    assert "unknown pruner 'hyperbnad'; did you mean `hyperband`?" in str(misspelt.value)
    assert "pruner=42 is neither a name" in str(other.value)


def test_a_fidelity_that_is_not_a_budget_is_refused(parser: Budgeted) -> None:
    with pytest.raises(phyper.SearchDefinitionError) as raised:
        search(parser, fidelity='n_epochs')

    assert "give phyper.budget('n_epochs'" in str(raised.value)


class ByFraction(phyper.Parser):
    lr = 0.1
    fraction = 1.0


def test_rungs_are_reported_to_optuna_at_whole_steps(parser: Budgeted) -> None:
    from phyper._search.study import rung_steps

    fractions = ByFraction(hashed_resources_folder='derived')

    def by_fraction(**budget: object) -> phyper.Search:
        return phyper.Search(fractions, space={'lr': phyper.log_uniform(1e-4, 1e-1)}, objective='score',
                             fidelity=phyper.budget('fraction', **budget), pruner='hyperband')  # type: ignore[arg-type]

    assert (10, 30, 90, 270) == rung_steps(search(parser))
    assert (1, 2, 4) == rung_steps(by_fraction(low=0.25, high=1.0, factor=2))
    with pytest.raises(phyper.SearchDefinitionError, match=r"fraction at 0.3, 0.5, 1.0 are not whole numbers"):
        rung_steps(by_fraction(rungs=[0.3, 0.5, 1.0]))

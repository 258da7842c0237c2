"""A search's space, expansion and sampler are checked when it is declared, before anything runs."""

from __future__ import annotations

import os

import pytest

import phyper


class Instance(phyper.Parser):
    scale = 'a'
    x = 0.0
    depth = 1
    fold = 0


class WithNonKeys:
    n_epochs = 10


class Trained(phyper.Parser, WithNonKeys):
    x = 0.0


@pytest.fixture
def parser() -> Instance:
    made = Instance(hashed_resources_folder='derived')
    made.register_new_resource(name='preprocessed', dependencies=['scale'])
    made.register_new_resource(name='model', dependencies=['scale', 'x', 'depth'])
    return made


def search(parser: phyper.Parser, **changes: object) -> phyper.Search:
    settings: dict[str, object] = {
        'space': {'scale': phyper.choice(['a', 'b']), 'x': phyper.uniform(-1, 1), 'depth': phyper.int_range(1, 3)},
        'expand': {'fold': [0, 1]}, 'objective': 'score', 'group_by': 'model',
    }
    settings.update(changes)
    return phyper.Search(parser, **settings)  # type: ignore[arg-type]


def test_a_search_over_keys_is_declared(parser: Instance) -> None:
    declared = search(parser)

    assert ['scale', 'x', 'depth'] == list(declared.space)
    assert {'fold': [0, 1]} == declared.expand
    assert [0, 1] == [instance.fold for instance in declared.trial_instances({'scale': 'b', 'x': 0.5, 'depth': 2})]
    assert parser.get_instance(scale='b', x=0.5, depth=2).get_instance_hash('model') == declared.trial_hash(
        {'scale': 'b', 'x': 0.5, 'depth': 2}
    )


def test_an_integer_proposal_for_a_float_key_is_normalised(parser: Instance) -> None:
    assert {'scale': 'a', 'x': 1.0, 'depth': 2} == search(parser).normalize({'scale': 'a', 'x': 1, 'depth': 2})


@pytest.mark.parametrize(
    ('make', 'message'),
    [
        (lambda: phyper.choice([]), r'choice\(\[\]\) is an empty range'),
        (lambda: phyper.int_range(3, 1), r'int_range\(3, 1\) is an empty range'),
        (lambda: phyper.uniform(1.0, 1.0), r'uniform\(1.0, 1.0\) is an empty range'),
        (lambda: phyper.log_uniform(0.0, 1.0), r'low must be above 0'),
        (lambda: phyper.choice('ab'), r'give a list of values'),
        (lambda: phyper.int_range(1.5, 3), r'low=1.5 must be a whole number'),  # type: ignore[arg-type]
    ],
)
def test_an_empty_or_malformed_range_is_a_named_error(make: object, message: str) -> None:
    with pytest.raises(phyper.SearchDefinitionError, match=message):
        make()  # type: ignore[operator]


def test_an_unknown_key_is_named_with_a_suggestion(parser: Instance) -> None:
    with pytest.raises(phyper.UnknownHyperparameterError, match=r"unknown hyperparameter `scal`.*did you mean `scale`"):
        search(parser, space={'scal': phyper.choice(['a'])})


def test_a_non_key_in_the_space_is_a_named_error() -> None:
    trained = Trained(hashed_resources_folder='derived')
    with pytest.raises(phyper.SearchDefinitionError, match=r"`n_epochs` in space is a non-key"):
        phyper.Search(trained, space={'n_epochs': phyper.int_range(1, 5)}, objective='score')


def test_a_group_that_does_not_separate_trials_is_a_named_error(parser: Instance) -> None:
    with pytest.raises(phyper.SearchDefinitionError, match=r"group_by='preprocessed' does not depend on 'x', 'depth'"):
        search(parser, group_by='preprocessed')
    with pytest.raises(phyper.SearchDefinitionError, match=r"expand= needs group_by="):
        search(parser, group_by=None)
    with pytest.raises(phyper.SearchDefinitionError, match=r"`scale` is both searched"):
        search(parser, expand={'scale': ['a']})


def test_an_unknown_sampler_and_a_continuous_grid_are_named_errors(parser: Instance) -> None:
    with pytest.raises(phyper.SearchDefinitionError, match=r"unknown sampler 'tpee'; did you mean `tpe`"):
        search(parser, sampler='tpee')
    with pytest.raises(phyper.SearchDefinitionError, match=r"grid sampler needs choices and integer ranges; 'x'"):
        search(parser, sampler='grid')


def test_a_value_of_the_wrong_type_is_refused_when_declared(parser: Instance) -> None:
    with pytest.raises(phyper.HyperparameterTypeError):
        search(parser, space={'depth': phyper.choice(['deep'])})


@pytest.mark.parametrize(
    ('name', 'sampler_class'),
    [('tpe', 'TPESampler'), ('random', 'RandomSampler'), ('gp', 'GPSampler'), ('cmaes', 'CmaEsSampler')],
)
def test_each_sampler_name_is_optunas_sampler(parser: Instance, name: str, sampler_class: str) -> None:
    import optuna

    from phyper._search.driver import make_sampler

    assert isinstance(make_sampler(search(parser, sampler=name)), getattr(optuna.samplers, sampler_class))


def test_the_grid_sampler_walks_every_point_of_a_discrete_space_once(parser: Instance) -> None:
    import optuna

    from phyper._search.driver import distributions, make_sampler

    discrete = search(parser, space={'scale': phyper.choice(['a', 'b']), 'depth': phyper.int_range(1, 3)}, sampler='grid')
    study = optuna.create_study(sampler=make_sampler(discrete))
    points = []
    for _ in range(6):  # asked, not told: as six drivers' trials in flight at once
        trial = study.ask(distributions(discrete))
        points.append((trial.params['scale'], trial.params['depth']))

    assert sorted(points) == [(s, d) for s in ('a', 'b') for d in (1, 2, 3)]
    assert {'scale': optuna.distributions.CategoricalDistribution(('a', 'b')),
            'depth': optuna.distributions.IntDistribution(1, 3)} == distributions(discrete)


def test_a_temporary_left_by_a_killed_record_write_is_not_a_record(parser: Instance, tmp_path: object) -> None:
    from phyper._search.space import TrialRecord
    from phyper._state.store import LocalStateFolder

    declared = search(parser)
    declared.bind(LocalStateFolder(str(tmp_path)))
    params = {'scale': 'b', 'x': 0.5, 'depth': 2}
    record = TrialRecord(declared.trial_hash(params), params)
    declared.write_record(record)
    folder = os.path.dirname(declared.record_path(record.hash))
    # what atomic_write_text leaves when killed between writing and renaming
    with open(os.path.join(folder, f'.{record.hash}.phyper-tmp-123-abc.json'), 'w') as handle:
        handle.write(record.to_json())

    assert [record] == declared.records()

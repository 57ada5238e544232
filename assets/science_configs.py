"""The `seeds_dag` settings a Dagster config stands for.

A Dagster `Config` declares the settings the UI and the run config may change, each defaulting to
its science dataclass's value (`steps: int = TrainingConfig.steps`), so a default lives once, in
`seeds_dag`. `science_config` then builds the dataclass from every field the Dagster config holds
under the dataclass's own field name: a setting reaches the science by its name, with no list of
fields copied by hand that could fall out of step with the declarations.
"""

import dataclasses
from typing import Any, TypeVar

from dagster import Config

Settings = TypeVar("Settings")


def science_config(cls: type[Settings], config: Config, **given: Any) -> Settings:
    """`cls` (a `seeds_dag` config dataclass) with the fields of the Dagster `config` that `cls` has by
    name, then `given` (what the asset knows and the config does not say, e.g. the batch size from
    the compute resource; it overrides the config's), every other field at `cls`'s default. Lists
    become tuples, as the dataclasses hold their sequences."""
    settings = {name: getattr(config, name) for name in shared_field_names(cls, type(config))}
    settings.update(given)
    return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in settings.items()})


def shared_field_names(cls: type, config_class: type[Config]) -> list[str]:
    """The fields of the Dagster config class that the dataclass `cls` has too, in declaration order."""
    names = {field.name for field in dataclasses.fields(cls)}
    return [name for name in config_class.model_fields if name in names]

"""The verification assets commit what they write as one: a failure between two of their tables
leaves the previous scores (or summary) whole and current, and a complete run replaces every one
of them. On the hand-made store of test_verification_assets (no physics, no training)."""

import numpy as np
import pandas as pd
import pytest
from test_verification_assets import INITS, N_EMULATED, forecast, make_store, materialise
from tiny_experiment import copy_artifacts

from assets.verification import SCORES, SUMMARY
from seeds_dag.store import ArtifactStore

INPUTS = ["truth", "climatology", "operational_ensemble", "daily_emulated_ensembles"]
EMULATED = "daily_emulated_ensembles"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Root of a store holding everything the verification reads, for the tests to copy."""
    root = tmp_path_factory.mktemp("verification_inputs")
    make_store(root, ["gee", "gpp"])
    return root


def store_of(inputs, root) -> ArtifactStore:
    copy_artifacts(inputs, root, INPUTS)
    return ArtifactStore(str(root))


def fail_the_second_table(monkeypatch):
    """From now on the second table encoded as parquet fails, as a full disk or a killed writer
    would part-way through an asset's tables (every table object is a DataFrame.to_parquet)."""
    encode, calls = pd.DataFrame.to_parquet, []

    def failing(df, *args, **kwargs):
        calls.append(df)
        if len(calls) == 2:
            raise OSError("no space left on device")
        return encode(df, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)


def stored(store: ArtifactStore, asset: str, partition: str | None = None) -> dict[str, bytes]:
    """Every object of asset/partition as a reader sees it now."""
    objects = store.objects(asset, partition)
    return {name: objects.read_bytes(name) for name in objects.names()}


def assert_all_replaced(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    assert after.keys() == before.keys()
    assert [name for name in before if after[name] == before[name]] == []


def test_scores_failing_between_two_tables_leave_the_previous_tables_current(inputs, tmp_path,
                                                                            monkeypatch):
    store = store_of(inputs, tmp_path)
    key = INITS[0]
    materialise(tmp_path, SCORES, key)
    previous = stored(store, SCORES, key)
    emulated = store.load_dataset(EMULATED, key)
    redrawn = forecast(np.random.default_rng(1), key, N_EMULATED, list(emulated["model"].values))
    store.write_dataset(redrawn.assign_attrs(emulated.attrs), EMULATED, key)
    with monkeypatch.context() as patch:
        fail_the_second_table(patch)
        with pytest.raises(OSError, match="no space left on device"):
            materialise(tmp_path, SCORES, key)
    assert stored(store, SCORES, key) == previous
    materialise(tmp_path, SCORES, key)
    assert_all_replaced(previous, stored(store, SCORES, key))


def test_a_summary_failing_part_way_leaves_the_previous_summary_current(inputs, tmp_path,
                                                                       monkeypatch):
    """The text, the pooled inits and the pooled tables stay those of one summary: the report
    never draws tables of two inits beside a list of one."""
    store = store_of(inputs, tmp_path)
    materialise(tmp_path, SCORES, INITS[0])
    materialise(tmp_path, SUMMARY)
    previous = stored(store, SUMMARY)
    assert previous["inits.json"] == b'["2000-01-06"]'
    materialise(tmp_path, SCORES, INITS[1])
    with monkeypatch.context() as patch:
        fail_the_second_table(patch)
        with pytest.raises(OSError, match="no space left on device"):
            materialise(tmp_path, SUMMARY)
    assert stored(store, SUMMARY) == previous
    materialise(tmp_path, SUMMARY)
    assert_all_replaced(previous, stored(store, SUMMARY))

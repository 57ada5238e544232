"""Fault: credentials given to the storage resource leaking. The key and secret of an s3:// root
(a local moto S3 server) appear in no Dagster event (successful or failed run), in no captured
stdout/stderr or Python log, in no materialisation metadata, and not in the resource's repr."""

import logging
from pathlib import Path

import boto3
import pytest
from dagster import DagsterInstance, EnvVar, materialize, serialize_value
from forecast_shards import COMPUTE, SOURCE, materialise, metadata, write_shards

from assets.definitions import ALL_ASSETS
from resources import StorageResource
from resources.source import Era5Settings, GefsSettings
from seeds_dag.store import ArtifactNotFoundError

KEY_ID, SECRET = "AKIA-never-shown-4b1d", "s3cr3t-never-shown-77e0"
BUCKET = "experiments"


@pytest.fixture
def s3_storage(s3_server):
    boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                 region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return s3_server


def leaks(text: str) -> list[str]:
    return [name for name, value in (("key", KEY_ID), ("secret", SECRET)) if value in text]


def test_s3_credentials_never_reach_logs_events_or_metadata(s3_storage, capfd, caplog):
    """The credentials given as plain values in the resource's config, where a leak is likeliest
    (docs/archives.md advises dg.EnvVar)."""
    caplog.set_level(logging.DEBUG)
    credentials = {"key": KEY_ID, "secret": SECRET}
    storage = StorageResource(root=f"s3://{BUCKET}/run", endpoint_url=s3_storage, **credentials)
    store = storage.store()
    write_shards(store)
    instance = DagsterInstance.ephemeral()

    done = materialise(storage, "normalization_stats", instance=instance)
    assert store.has("normalization_stats")  # the credentials did reach S3
    stats = metadata(done, "normalization_stats")
    assert stats["location"].startswith(f"s3://{BUCKET}/run/normalization_stats/_all/v-")
    # A failed run: the emulator of an empty prefix finds no statistics to train with.
    empty = StorageResource(root=f"s3://{BUCKET}/empty", endpoint_url=s3_storage, **credentials)
    with pytest.raises(ArtifactNotFoundError, match=f"s3://{BUCKET}/empty") as failed:
        materialise(empty, "trained_emulator", instance=instance)

    runs = instance.get_runs()
    assert len(runs) == 2
    records = [serialize_value(run) for run in runs]
    records += [serialize_value(entry) for run in runs for entry in instance.all_logs(run.run_id)]
    assert any("STEP_FAILURE" in record for record in records)
    captured = capfd.readouterr()
    # botocore's own DEBUG log of each request shows the Authorization header, which names the
    # access key id (an identifier; the secret only signs): only the secret is checked there.
    wire = [r.getMessage() for r in caplog.records if r.name.startswith("botocore") and r.levelno == logging.DEBUG]
    other = [r.getMessage() for r in caplog.records if not (r.name.startswith("botocore")
                                                            and r.levelno == logging.DEBUG)]
    texts = {"events and runs": "\n".join(records), "metadata": repr(stats), "stdout": captured.out,
             "stderr": captured.err, "python logs": "\n".join(other), "error": str(failed.value),
             "resource repr": repr(storage) + str(storage) + repr(store)}
    assert {where: leaks(text) for where, text in texts.items() if leaks(text)} == {}
    assert wire and SECRET not in "\n".join(wire)


@pytest.mark.parametrize("settings", [GefsSettings, Era5Settings])
def test_archive_credentials_are_not_in_the_settings_repr(settings):
    configured = settings(key="AKIA-ARCHIVE-KEY-ID", secret="archive-secret-value")
    assert configured.key == "AKIA-ARCHIVE-KEY-ID"  # kept, only not shown
    for text in (repr(configured), str(configured)):
        assert "AKIA-ARCHIVE-KEY-ID" not in text and "archive-secret-value" not in text


ENV_KEY, ENV_SECRET = "SEEDS_DAG_TEST_S3_KEY", "SEEDS_DAG_TEST_S3_SECRET"


def _every_file(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_credentials_from_the_environment_appear_nowhere_dagster_keeps_them(
        s3_storage, tmp_path, monkeypatch, capfd):
    """The two ways docs/archives.md gives the storage credentials, each in a real run recorded in a
    DAGSTER_HOME on disk: `dg.EnvVar` in code, and `{env: NAME}` in run config (what the
    Launchpad takes). Afterwards the secret's value is in no file of the instance (runs, event
    log, compute logs, schedules: every file, sqlite included), in no object of the storage root
    and not on the console; the key id neither."""
    monkeypatch.setenv(ENV_KEY, KEY_ID)
    monkeypatch.setenv(ENV_SECRET, SECRET)
    home = tmp_path / "dagster_home"
    home.mkdir()
    root = f"s3://{BUCKET}/env"
    write_shards(StorageResource(root=root, endpoint_url=s3_storage, key=KEY_ID, secret=SECRET).store())
    with DagsterInstance.from_config(str(home)) as instance:
        in_code = StorageResource(root=root, endpoint_url=s3_storage, key=EnvVar(ENV_KEY),
                                  secret=EnvVar(ENV_SECRET))
        assert materialise(in_code, "normalization_stats", instance=instance).success
        at_launch = materialize(
            ALL_ASSETS, selection=["normalization_stats"], instance=instance,
            resources={"storage": StorageResource.configure_at_launch(), "compute": COMPUTE,
                       "source": SOURCE},
            run_config={"resources": {"storage": {"config": {
                "root": root, "endpoint_url": s3_storage,
                "key": {"env": ENV_KEY}, "secret": {"env": ENV_SECRET}}}}})
        assert at_launch.success and len(instance.get_runs()) == 2
    captured = capfd.readouterr()
    import s3fs
    bucket = s3fs.S3FileSystem(key=KEY_ID, secret=SECRET, client_kwargs={"endpoint_url": s3_storage})
    stored = {path: bucket.cat_file(path) for path in bucket.find(BUCKET)}
    files = {**_every_file(home), **stored}
    assert len(files) > 10  # the instance's databases and logs, the shards and statistics
    found = {path for path, data in files.items() if SECRET.encode() in data or KEY_ID.encode() in data}
    assert found == set()
    assert not leaks(captured.out + captured.err)


def test_a_literal_secret_in_run_config_is_kept_by_dagster_as_the_readme_warns(s3_storage, tmp_path):
    """The other side, and proof that the search above finds what is there: a secret pasted as a
    literal into run config (the Launchpad) is stored in the instance's run records."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    root = f"s3://{BUCKET}/literal"
    write_shards(StorageResource(root=root, endpoint_url=s3_storage, key=KEY_ID, secret=SECRET).store())
    with DagsterInstance.from_config(str(home)) as instance:
        assert materialize(
            ALL_ASSETS, selection=["normalization_stats"], instance=instance,
            resources={"storage": StorageResource.configure_at_launch(), "compute": COMPUTE,
                       "source": SOURCE},
            run_config={"resources": {"storage": {"config": {
                "root": root, "endpoint_url": s3_storage, "key": KEY_ID, "secret": SECRET}}}}).success
    assert [path for path, data in _every_file(home).items() if SECRET.encode() in data]

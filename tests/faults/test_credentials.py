"""Fault: credentials given to the storage resource leaking. The key and secret of an s3:// root
(a local moto S3 server) appear in no Dagster event (successful or failed run), in no captured
stdout/stderr or Python log, in no materialisation metadata, and not in the resource's repr."""

import logging

import boto3
import pytest
from dagster import DagsterInstance, serialize_value
from forecast_shards import materialise, metadata, write_shards

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
    (the README advises dg.EnvVar)."""
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

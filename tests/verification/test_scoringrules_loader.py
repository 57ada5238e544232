"""scoringrules is imported under the shared file lock, so concurrent first imports (which compile
its gufuncs into numba's cache) run one at a time."""

import fcntl
import subprocess
import sys
import textwrap

from seeds_dag.verification.scoringrules_loader import import_lock, load_scoringrules, lock_path

# In a fresh process (this one imported scoringrules in conftest): an import hook sees the import of
# scoringrules begin and tries the lock from a second open file, without waiting. flock locks belong
# to the open file, so that try fails exactly when the loader holds the lock during the import.
PROBE = textwrap.dedent("""
    import fcntl, sys
    from seeds_dag.verification.scoringrules_loader import load_scoringrules, lock_path

    LOCK = lock_path()  # before the hook (and cached): lock_path looks scoringrules up itself

    class Probe:
        def find_spec(self, name, path=None, target=None):
            if name == "scoringrules":
                with open(LOCK, "a") as handle:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        print("held during import")
                    else:
                        print("free during import")
                        fcntl.flock(handle, fcntl.LOCK_UN)
            return None

    sys.meta_path.insert(0, Probe())
    module = load_scoringrules()
    print("loaded", module.__name__, hasattr(module, "es_ensemble"))
""")


def _run_probe() -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")


def test_the_first_import_in_a_process_holds_the_lock_and_releases_it():
    lines = _run_probe()
    assert lines[:2] == ["held during import", "loaded scoringrules True"]
    # Released afterwards: this process can take it without waiting.
    with open(lock_path(), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(handle, fcntl.LOCK_UN)


def test_a_loaded_module_is_returned_without_the_lock():
    # Another process (here: this one, from a second open file) holding the lock does not block a
    # process that has scoringrules already; only first imports queue.
    with import_lock():
        assert load_scoringrules() is sys.modules["scoringrules"]

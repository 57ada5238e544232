"""Settings the code location reads from the environment when it loads (a deployment's knobs that
must be fixed before the definitions exist: GPU requests, training processes, sensor intervals)."""

import os


def whole_number_from_environment(name: str, default: int, meaning: str) -> int:
    """$name as a whole number ≥ 1, `default` when unset or blank; anything else refused, naming the
    variable, its value and `meaning` (what the number counts)."""
    value = os.environ.get(name, "").strip() or str(default)
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"{name}={value!r}: expected a whole number of at least 1 ({meaning})")
    return number

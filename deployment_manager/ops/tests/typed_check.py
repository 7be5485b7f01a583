"""What an ops function returned, read through its result type (ops/results.py)
the way the operation kinds read it: a key renamed or misspelt in the ops
layer, or a value of another type, fails here rather than in a model."""

import json


def typed(result_type, raw):
    """``raw`` as ``result_type``; every key it holds is a field of the type
    and keeps its value through the JSON the operation stores."""
    plain = json.loads(json.dumps(raw))
    result = result_type.from_json(plain)
    stored = result.to_json()
    assert {key: stored[key] for key in plain} == plain
    return result

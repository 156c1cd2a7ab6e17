"""One reconciler per kind: a pure `decide(observed) -> actions` and a thin part that applies them."""

"""``python -m runner.reproduce``: the papers' claims, checked by running the experiments
that test them (:mod:`runner.reproduce.claims` states how each is decided)."""

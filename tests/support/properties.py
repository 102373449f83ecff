"""How many examples a property test tries: its own number, or fewer under mutation testing.

scripts/mutation runs the tests that reach a mutant once per mutant, with a fixed
seed (`--hypothesis-profile=mutation`): there a property test only needs a few
examples to reach the mutated code, and its full count would cost most of the run.
"""

from __future__ import annotations

from hypothesis import settings

MUTATION = "mutation"
MUTATION_EXAMPLES = 10
settings.register_profile(MUTATION, max_examples=MUTATION_EXAMPLES)


def examples(n: int) -> int:
    """`n`, or the mutation profile's smaller count while that profile is loaded."""
    if settings.get_current_profile_name() == MUTATION:
        return min(n, MUTATION_EXAMPLES)
    return n

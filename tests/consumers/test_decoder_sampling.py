"""The batcher's per-row sampling at the edges of what the API accepts."""

from __future__ import annotations

import pytest
import torch

from consumers.inference.decoder import Row, _choose


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, 0, 1e-50), (1.0, 0, 0.0), (5.0, 3, 1e-40), (1e-300, 0, 1.0), (1e-45, 0, 0.5)],
)
def test_a_vanishing_temperature_or_top_p_samples_greedily_not_an_error(
    temperature: float, top_k: int, top_p: float
) -> None:
    # found by schemathesis through the API (/v1/completions with top_p=5e-324): a top_p that
    # rounds to 0 kept no token, and a subnormal temperature overflowed the scaled logits (NaN
    # probabilities); torch.multinomial raised and the request was a 502 (the API's floats reach
    # the worker as float32: 5e-324 arrives as 0.0)
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 1.0, -1.0, 0.5]])
    rows = [Row([1], 4, temperature, top_k, top_p) for _ in range(2)]
    assert _choose(logits, rows, torch.Generator().manual_seed(0)) == [0, 1]


def test_an_ordinary_nucleus_still_samples_only_inside_it() -> None:
    logits = torch.tensor([[3.0, 2.9, -5.0, -5.0]])
    row = Row([1], 4, 1.0, 0, 0.9)
    picks = {_choose(logits, [row], torch.Generator().manual_seed(s))[0] for s in range(40)}
    assert picks == {0, 1}

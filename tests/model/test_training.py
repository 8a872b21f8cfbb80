"""Training: it learns, every training type runs, resume is exact, progress is reported."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
import torch

from model import (
    DialogueRecord,
    Directive,
    Document,
    ModelConfig,
    StepReport,
    Tokenizer,
    Trainer,
    TrainingConfig,
    build_dataset,
    build_model,
    latest_checkpoint,
    load_checkpoint,
    train,
)
from model.training import WarmupCosine

Corpus = tuple[list[Document], list[Document]]


def _trainer(
    tiny: ModelConfig, tok: Tokenizer, corpus: Corpus, config: TrainingConfig, **kw
) -> Trainer:
    torch.manual_seed(config.seed)
    train_docs, held = corpus
    data = build_dataset("standard", tok, config.seq_len, train_docs)
    val = build_dataset("standard", tok, config.seq_len, held)
    return Trainer(build_model(tiny), tok, config, data, val, **kw)


def test_training_lowers_validation_loss_well_below_its_start(
    tiny: ModelConfig, tokenizer: Tokenizer, corpus: Corpus
) -> None:
    config = TrainingConfig(steps=60, batch_size=8, seq_len=48, learning_rate=5e-3, warmup_steps=5)
    trainer = _trainer(tiny, tokenizer, corpus, config)
    start = trainer.validation_loss()
    result = trainer.run()
    assert result.status == "completed" and result.step == 60
    final = result.val_losses[-1][1]
    assert final < start - 0.6, (start, final)


def test_resumed_training_reproduces_the_uninterrupted_losses(
    tiny: ModelConfig, tokenizer: Tokenizer, corpus: Corpus, tmp_path: Path
) -> None:
    dropout = tiny.replace(dropout=0.1)
    config = TrainingConfig(steps=8, batch_size=4, seq_len=24, warmup_steps=2, seed=3)
    whole = _trainer(dropout, tokenizer, corpus, config).run()
    ckpt = TrainingConfig(**{**config.__dict__, "checkpoint_dir": str(tmp_path)})
    stop_at_5 = lambda step: Directive.PAUSE if step == 5 else Directive.CONTINUE  # noqa: E731
    first = _trainer(dropout, tokenizer, corpus, ckpt, control=stop_at_5).run()
    assert first.status == "paused" and first.checkpoint is not None
    torch.manual_seed(1234)  # whatever happens in between must not matter
    saved = load_checkpoint(first.checkpoint)
    data = build_dataset("standard", tokenizer, 24, corpus[0])
    rest = train(saved.model, saved.tokenizer, ckpt, data, resume_from=saved.trainer_state)
    assert first.losses + rest.losses == pytest.approx(whole.losses, abs=1e-6)
    assert first.losses[0] != pytest.approx(whole.losses[-1])


def test_each_step_reports_loss_lr_speed_gradient_and_resonance(
    tiny: ModelConfig, tokenizer: Tokenizer, corpus: Corpus
) -> None:
    reports: list[StepReport] = []
    config = TrainingConfig(steps=3, batch_size=2, seq_len=16, warmup_steps=2)
    _trainer(tiny, tokenizer, corpus, config, callbacks=[reports.append]).run()
    assert [r.step for r in reports] == [1, 2, 3]
    assert reports[0].lr < reports[1].lr  # warming up
    for r in reports:
        assert r.loss > 0 and r.tokens_per_s > 0 and r.grad_norm > 0
        assert len(r.mean_iterations) == tiny.n_layers and len(r.mean_entropy) == tiny.n_layers
    assert reports[-1].val_loss is not None


def test_stop_directive_ends_training_between_steps(
    tiny: ModelConfig, tokenizer: Tokenizer, corpus: Corpus
) -> None:
    config = TrainingConfig(steps=10, batch_size=2, seq_len=16)
    result = _trainer(
        tiny,
        tokenizer,
        corpus,
        config,
        control=lambda s: Directive("stop" if s >= 2 else "continue"),
    ).run()
    assert result.status == "stopped" and result.step == 2 and len(result.losses) == 2


def test_checkpoints_rotate_and_reload_the_same_model(
    tiny: ModelConfig, tokenizer: Tokenizer, corpus: Corpus, tmp_path: Path
) -> None:
    config = TrainingConfig(
        steps=4,
        batch_size=2,
        seq_len=16,
        checkpoint_dir=str(tmp_path),
        checkpoint_every=1,
        keep_checkpoints=2,
    )
    trainer = _trainer(tiny, tokenizer, corpus, config)
    trainer.run()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["step-00000003", "step-00000004"]
    latest = latest_checkpoint(tmp_path)
    assert latest is not None
    bounded = latest_checkpoint(tmp_path, at_most=3)  # the newest no later than a recorded step
    assert bounded is not None and bounded.name == "step-00000003"
    assert latest_checkpoint(tmp_path, at_most=2) is None
    saved = load_checkpoint(latest)
    assert set(p.name for p in saved.path.iterdir()) == {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "trainer.pt",
    }
    assert saved.trainer_state is not None and saved.trainer_state["step"] == 4
    ids = torch.randint(0, tiny.vocab_size, (1, 8))
    trainer.model.eval()
    with torch.no_grad():
        assert torch.allclose(saved.model.eval()(ids).logits, trainer.model(ids).logits)


def test_warmup_then_cosine_decay_to_the_floor() -> None:
    schedule = WarmupCosine(warmup=4, total=20, floor=0.1)
    values = [schedule(s) for s in range(21)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in pairwise(values[3:]))
    assert values[-1] == pytest.approx(0.1)


def _dialogues(kind: str) -> list[DialogueRecord]:
    if kind == "function_calling":
        return [
            DialogueRecord("weather in Oslo?", '{"arguments":{"city":"Oslo"},"name":"weather"}')
        ] * 4
    weight = 0.5 if kind == "empathy" else 1.0
    return [
        DialogueRecord("how are you?", "fine, thank you", weight),
        DialogueRecord("hello", "hi there", 1.0),
    ]


@pytest.mark.parametrize("kind", ["dialogue", "empathy", "function_calling"])
def test_dialogue_training_types_fit_their_responses(
    tiny: ModelConfig, tokenizer: Tokenizer, kind: str
) -> None:
    data = build_dataset(kind, tokenizer, 48, _dialogues(kind))
    config = TrainingConfig(
        training_type=kind,  # type: ignore[arg-type]
        steps=25,
        batch_size=4,
        seq_len=48,
        learning_rate=1e-2,
        warmup_steps=2,
    )
    result = train(build_model(tiny), tokenizer, config, data, val_data=data)
    assert result.losses[-1] < result.losses[0] / 2


def test_a_zero_empathy_weight_contributes_no_gradient(
    tiny: ModelConfig, tokenizer: Tokenizer
) -> None:
    data = build_dataset("empathy", tokenizer, 32, [DialogueRecord("a", "b", 0.0)])
    model = build_model(tiny.replace(entropy_weight=0.0, hcw_penalty_weight=0.0))
    batch = data.sample(2, torch.Generator().manual_seed(0))
    out = model(batch.ids, batch.attention_mask, batch.labels, batch.weights)
    assert float(out.loss.detach()) == 0.0

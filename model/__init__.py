"""QLLM in PyTorch — the public API the rest of the platform calls.

Configuration
    `ModelConfig`, `ExtensionsConfig`, `preset(name, **overrides)` (`tiny`, `small`, `base`).
Models
    `build_model(config)` → `QLLM` or `BaselineTransformer` (by `config.arch`); both return a
    `ModelOutput` (loss, logits, hidden states, per-layer `LayerMetadata`).
Tokenizer
    `Tokenizer.train(texts, vocab_size)`, `.save(path)`, `Tokenizer.load(path)`,
    `.encode`, `.decode`.
Data
    `default_corpus()`, `split_documents`, `load_text`, `load_jsonl`, `build_dataset`.
Training
    `TrainingConfig`, `Trainer`, `train(...)`, `StepReport`, `StepCallback`, `Directive`,
    `TrainingResult`.
Checkpoints
    `save_checkpoint(path, model, tokenizer, ...)`, `load_checkpoint(path)` → `Checkpoint`.
Generation
    `GenerationEngine` (`generate`, `chat`, `stream`, `embed`, `similarity`, `generate_json`),
    `GenerationConfig`, `GenerationResult`.
Evaluation
    `evaluate(model, tokenizer, texts, ...)` → `EvaluationReport`; `compare(...)`.
Errors
    `ModelError` and its subclasses (`ConfigError`, `TokenizerError`, `DataError`,
    `CheckpointError`, `GenerationError`, `SchemaError`), each carrying the offending value.

Nothing here imports messaging or storage libraries, and nothing is built at import time.
"""

from model.batches import Batch, DialogueSet, TokenStream
from model.checkpoint import Checkpoint, latest_checkpoint, load_checkpoint, save_checkpoint
from model.config import ExtensionsConfig, ModelConfig, preset, preset_names
from model.data import (
    DialogueRecord,
    Document,
    default_corpus,
    load_jsonl,
    load_text,
    split_documents,
)
from model.engine import GenerationEngine, GenerationResult
from model.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    GenerationError,
    ModelError,
    SchemaError,
    TokenizerError,
)
from model.evaluation import EvaluationReport, compare, distinct_n, evaluate
from model.factory import build_model, parameter_count
from model.outputs import LayerMetadata, ModelOutput
from model.sampling import GenerationConfig
from model.tokenizer import Tokenizer
from model.training import (
    Directive,
    StepCallback,
    StepReport,
    Trainer,
    TrainingConfig,
    TrainingResult,
    build_dataset,
    train,
)

__all__ = [
    "Batch",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DialogueRecord",
    "DialogueSet",
    "Directive",
    "Document",
    "EvaluationReport",
    "ExtensionsConfig",
    "GenerationConfig",
    "GenerationEngine",
    "GenerationError",
    "GenerationResult",
    "LayerMetadata",
    "ModelConfig",
    "ModelError",
    "ModelOutput",
    "SchemaError",
    "StepCallback",
    "StepReport",
    "TokenStream",
    "Tokenizer",
    "TokenizerError",
    "Trainer",
    "TrainingConfig",
    "TrainingResult",
    "build_dataset",
    "build_model",
    "compare",
    "default_corpus",
    "distinct_n",
    "evaluate",
    "latest_checkpoint",
    "load_checkpoint",
    "load_jsonl",
    "load_text",
    "parameter_count",
    "preset",
    "preset_names",
    "save_checkpoint",
    "split_documents",
    "train",
]

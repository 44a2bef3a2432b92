"""The modality-agnostic engine: task, metrics, search, budget, executor, predictor."""

"""Understanding a model and its data: the data audit and drift, permutation importance,
SHAP contributions, partial dependence, per-row reasons, fairness slices and the HTML
report. Built on core only; the modalities call it (fitting runs the audit) and it reaches
them through the modality registry."""

"""Understanding a model and its data: permutation importance, SHAP contributions, partial
dependence, per-row reasons, fairness slices and the HTML report. Built on core and the
modalities; the data audit itself lives with the tables (``accelml.tabular.audit``), since
fitting runs it."""

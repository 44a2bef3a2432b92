"""Tabular modality: column typing and encoding, plus tree, linear and neighbour learners."""

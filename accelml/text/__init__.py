"""Text classification (and regression on texts): the text modality, its preprocessing,
featurizers, validation splits and learners."""

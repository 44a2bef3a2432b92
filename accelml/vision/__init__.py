"""Image modality: loading image folders, files and arrays; preprocessing; learners."""

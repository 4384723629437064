"""Training: demo data, data loading and splits, encoder loading, fine-tuning, checkpoints."""

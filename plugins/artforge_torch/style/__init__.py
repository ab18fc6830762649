"""Style transfer for the PyTorch backend (imported only when a recipe runs it)."""

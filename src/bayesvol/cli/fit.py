"""`bayesvol fit` (being written)."""

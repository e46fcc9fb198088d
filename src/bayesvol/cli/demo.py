"""`bayesvol demo` (being written)."""

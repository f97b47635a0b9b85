"""Data files shipped with Portrait (reference tables)."""

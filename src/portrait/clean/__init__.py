"""Cleaning of raw customer-data values (regions, phones, dates and the like)."""

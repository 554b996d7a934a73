"""Widgets with logic, one per module."""

"""Elastic compute: one interface (base.py), providers registered by name (registry.py)."""

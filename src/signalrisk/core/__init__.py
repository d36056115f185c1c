"""Configuration and the error hierarchy shared by every layer."""

"""The HTTP API: the source system's 15 endpoints, and richer results under /v1."""

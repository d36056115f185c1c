"""Object stores for audit records and charts: the interface, the registry and providers."""

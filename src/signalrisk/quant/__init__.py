"""The numbers of SPEC §3: numpy only, no I/O, no settings."""

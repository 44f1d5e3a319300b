"""Local mode: run the monitor against local stand-ins for AWS (test and demo infrastructure)."""

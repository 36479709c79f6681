"""Suite-wide fixtures. Stand-in and process fixtures live in tests/support/."""

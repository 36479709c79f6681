"""Operator command line (`meshctl`)."""

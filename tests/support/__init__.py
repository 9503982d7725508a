"""Test helpers shared across test packages (schema checks, not fixtures)."""

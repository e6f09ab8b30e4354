"""Fixtures shared by every test package. Feature-specific fixtures live beside their tests."""

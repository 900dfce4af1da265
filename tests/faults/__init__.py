"""Hostile input and failing parts: real servers on loopback that misbehave, special files."""

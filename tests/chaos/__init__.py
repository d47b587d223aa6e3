"""Seeded, bounded chaos tests of whole-stack invariants (marker `chaos`)."""

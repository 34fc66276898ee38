"""Waldur federation: this offering's resources live on an offering of another Waldur (B)."""

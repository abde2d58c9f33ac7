"""Honest test doubles of Plinth's contracts (they keep the rules, only the world is fake)."""

"""Typed words: what people type instead of tapping, in every language (flows/words/)."""

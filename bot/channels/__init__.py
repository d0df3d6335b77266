"""Channels turn what a person does into engine events, and replies into what they see."""

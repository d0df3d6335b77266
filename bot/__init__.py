"""Pathways: a discreet Telegram bot for people affected by domestic abuse in the UK."""

__version__ = "0.1.0"

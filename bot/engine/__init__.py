"""The channel-agnostic conversation core: flows in, replies out, no I/O of its own."""

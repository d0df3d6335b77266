"""The service directory: who can help, where, and how to reach them."""

"""QR codes for posters, business cards, stickers and labels, from the start codes."""

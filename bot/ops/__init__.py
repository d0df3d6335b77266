"""Running Pathways for real: settings shown, start-up checks, backups, the bot's profile."""

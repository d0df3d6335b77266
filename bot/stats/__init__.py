"""Anonymous figures for the partnership: what help people look for, never who they are."""

"""Pure audio and text processing. Imports nothing else of neuraldrive_audio."""

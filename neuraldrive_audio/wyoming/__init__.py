"""The Wyoming front door: Home Assistant's speech protocol over TCP.

Like the HTTP API it runs no model: every transcription and every spoken sentence is an
interactive-lane job on the workers. It imports nothing from ``api/``.
"""

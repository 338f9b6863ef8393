"""The voice agent: the LLM client, spoken replies, audio input transcription."""

"""The protocol-neutral speech service: the layer every front door calls.

The HTTP API, the realtime sessions, chat-with-audio, the Wyoming server and the console
all reach the workers through here; it imports no web framework and nothing of a front
door (``tests/test_architecture.py`` checks both). Its parts:

- :mod:`.speech_service` — :class:`~.speech_service.SpeechService`, the facade built once
  per process from (JobQueue, ModelCatalog, Settings): ``transcribe``,
  ``transcribe_events``, ``start_transcription``, ``resolve_voice``, ``reply_voice``,
  ``speak``, ``reply``, ``reply_text``, ``list_asr_models``, ``list_voices``, ``llm``;
- :mod:`.errors` — :class:`~.errors.ServiceError` (kind, message, param, code,
  retry_after_s), the one error type front doors map to their protocol;
- :mod:`.jobs` — the job lifecycle (submit, follow, abort on leave, sync retry);
- :mod:`.names` — model and voice resolution (OpenAI aliases, voice aliases, mixes);
- :mod:`.transcription` — :class:`~.transcription.TranscriptionOptions` and the events
  of a transcription;
- :mod:`.llm` — the LLM client with its typed stream (text, tool calls, finish, usage);
- :mod:`.reply` — the reply pipeline (LLM -> clauses -> speech jobs -> audio);
- :mod:`.usage` — token accounting.

Import the submodules directly; this package module re-exports nothing, so importing a
light part (``errors``) does not load the LLM client.
"""

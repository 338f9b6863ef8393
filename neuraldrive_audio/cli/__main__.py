"""``python -m neuraldrive_audio.cli``: the same as the ``neuraldrive-audio`` command."""

from neuraldrive_audio.cli import main

main()

"""neuraldrive-audio: OpenAI-compatible speech for the NeuralDrive appliance."""

__version__ = "0.1.0"

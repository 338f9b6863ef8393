"""The modal list of live workers the operator picks from when loading a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from neuraldrive_audio.cli.client import Worker
from neuraldrive_audio.tui import format as fmt


class WorkerPicker(ModalScreen[str | None]):
    """A small list of live workers; Enter answers the chosen id, Escape answers None."""

    DEFAULT_CSS = """
    WorkerPicker { align: center middle; background: #0A0A0A 60%; }
    OptionList, OptionList:focus {
        width: 72; height: auto; max-height: 16; background: #0A0A0A; color: #F59E0B;
        border: round #F59E0B;
    }
    OptionList > .option-list--option-highlighted { background: #F59E0B; color: #0A0A0A; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, model_id: str, workers: Sequence[Worker]) -> None:
        super().__init__()
        self.model_id = model_id
        self.choices = workers

    def compose(self) -> ComposeResult:
        """One option per worker, with its device and memory use."""
        picker = OptionList(*(Option(_label(w), id=w.worker_id) for w in self.choices))
        picker.border_title = Content(f"Load {self.model_id} on…")  # plain text, not markup
        yield picker

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Answer with the chosen worker id."""
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Answer None: nothing is loaded."""
        self.dismiss(None)


def _label(w: Worker) -> str:
    used, budget = fmt.human_bytes(w.used_bytes), fmt.human_bytes(w.budget_bytes)
    return f"{w.worker_id}  {w.device or fmt.DASH}  {used} / {budget} used"

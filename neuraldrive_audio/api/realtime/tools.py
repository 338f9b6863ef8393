"""Function tools of a conversation session: ``session.tools`` and ``tool_choice``.

Read from ``session.update`` (and ``response.create``, which may override both for one
response), rendered back as the SDK's models, and handed to the LLM as Chat Completions
``tools``/``tool_choice``. Only function tools exist here (no MCP servers). The tools'
size is capped, since they go to the LLM with every response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from openai.types.realtime import RealtimeFunctionTool
from openai.types.realtime.realtime_tool_choice_config import RealtimeToolChoiceConfig
from openai.types.responses import ToolChoiceFunction
from pydantic import BaseModel, ConfigDict, StrictStr, TypeAdapter, ValidationError

from neuraldrive_audio.api.realtime.protocol import ClientEventError, validation_error

ToolMode = Literal["none", "auto", "required"]


class FunctionTool(BaseModel):
    """One function the model may call."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["function"] = "function"
    name: StrictStr
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None

    def render(self) -> RealtimeFunctionTool:
        """As the Realtime API shows it."""
        return RealtimeFunctionTool(
            type="function",
            name=self.name,
            description=self.description,
            parameters=self.parameters,
        )

    def chat(self) -> dict[str, Any]:
        """As a Chat Completions ``tools`` entry."""
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = self.parameters or {"type": "object", "properties": {}}
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolChoice:
    """``none`` / ``auto`` / ``required``, or one named function (``function`` set)."""

    mode: ToolMode = "auto"
    function: str | None = None

    def render(self) -> RealtimeToolChoiceConfig:
        """As the Realtime API shows it."""
        if self.function is not None:
            return ToolChoiceFunction(type="function", name=self.function)
        return self.mode

    def chat(self) -> str | dict[str, Any]:
        """As a Chat Completions ``tool_choice``."""
        if self.function is not None:
            return {"type": "function", "function": {"name": self.function}}
        return self.mode


_TOOLS: TypeAdapter[list[FunctionTool]] = TypeAdapter(list[FunctionTool])


def read_tools(
    value: object, param: str, max_tools: int, max_bytes: int
) -> tuple[FunctionTool, ...]:
    """The function tools of a ``tools`` list, within the caps."""
    if not isinstance(value, list):
        raise ClientEventError(
            f"Invalid type for '{param}': expected an array.", code="invalid_type", param=param
        )
    if len(value) > max_tools:
        raise ClientEventError(
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{max_tools}, but got an array with length {len(value)} instead.",
            code="array_above_max_length",
            param=param,
        )
    for index, tool in enumerate(value):
        if isinstance(tool, dict) and tool.get("type", "function") != "function":
            raise ClientEventError(
                f"Tools of type '{tool.get('type')}' are not supported; use 'function'.",
                code="unsupported",
                param=f"{param}[{index}].type",
            )
    try:
        tools = tuple(_TOOLS.validate_python(value))
    except ValidationError as exc:
        raise validation_error(exc, param) from exc
    size = len(json.dumps([tool.chat() for tool in tools]))
    if size > max_bytes:
        raise ClientEventError(
            f"Invalid '{param}': the tools take {size} bytes, more than the limit of {max_bytes}.",
            code="tools_too_large",
            param=param,
        )
    names = [tool.name for tool in tools]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise ClientEventError(
            f"Invalid '{param}': duplicate function name '{duplicate}'.", param=param
        )
    return tools


def read_tool_choice(value: object, param: str) -> ToolChoice:
    """A ``tool_choice``: a mode, or ``{"type": "function", "name": ...}``."""
    if value in ("none", "auto", "required"):
        return ToolChoice(value)  # type: ignore[arg-type]
    if isinstance(value, dict) and value.get("type") == "function":
        name = value.get("name")
        if isinstance(name, str) and name:
            return ToolChoice("required", name)
    raise ClientEventError(
        f"Invalid value for '{param}': use 'none', 'auto', 'required' or "
        "{'type': 'function', 'name': ...}.",
        param=param,
    )

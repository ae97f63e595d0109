"""A Dockerfile's text into ketch.build.instructions' typed stages, as Docker parses it:
BuildKit's `frontend/dockerfile/parser` for the lines, `instructions/parse.go` for each
instruction's arguments and flags, with Docker's messages.

Errors are DockerfileError (an InvalidArgument) worded as Docker's builder words them:
"failed to parse Dockerfile: unterminated heredoc" for the text as a whole, "dockerfile
parse error on line 3: unknown instruction: RUNN (did you mean RUN?)" for one instruction;
the exception's `file` and `line` say where.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketch.build.instructions import Arg, Dockerfile, From, Instruction, Location, Stage
from ketch.build.lines import DockerfileError, LineError, Lines
from ketch.build.nodes import Node, NodeError, heredocs_in_line, node_from_line
from ketch.build.typed import InstructionError, typed_instruction

__all__ = ["DockerfileError", "parse", "parse_trigger"]


@dataclass(frozen=True)
class _Parsed:
    node: Node
    location: Location
    empty_continuation: bool


def parse(text: str, file: str = "Dockerfile") -> Dockerfile:
    if text == "":
        raise DockerfileError(f"the Dockerfile ({file}) cannot be empty", file=file)
    lines = Lines(text)
    parsed = _read(lines, file)
    meta_args: list[Arg] = []
    stages: list[Stage] = []
    body: list[Instruction] = []
    for item in parsed:
        instruction = _typed(item, file)
        if isinstance(instruction, From):
            _close(stages, body)
            stages.append(Stage(index=len(stages), base=instruction))
            body = []
        elif stages:
            body.append(instruction)
        elif isinstance(instruction, Arg):
            meta_args.append(instruction)
        else:
            raise DockerfileError("no build stage in current context", file=file,
                                  line=item.location.line, end_line=item.location.end_line)
    if not stages:
        # Docker's parser takes a file of meta ARGs; its builder then finds nothing built.
        raise DockerfileError("No image was generated. Is your Dockerfile empty?", file=file)
    _close(stages, body)
    warnings = tuple(f"Empty continuation line found in: {item.node.original}"
                     for item in parsed if item.empty_continuation)
    return Dockerfile(meta_args=tuple(meta_args), stages=tuple(stages), escape=lines.escape,
                      syntax=lines.syntax, warnings=warnings)


def parse_trigger(expression: str, file: str = "Dockerfile") -> Instruction:
    """An image's ONBUILD trigger ("RUN make", as Onbuild.expression kept it) as the
    instruction it runs in the child's build; Docker parses it as a file of its own."""
    parsed = _read(Lines(expression), file)
    if len(parsed) != 1:
        raise DockerfileError("onbuild trigger should be a single expression", file=file)
    try:
        instruction = typed_instruction(parsed[0].node, parsed[0].location)
    except InstructionError as error:
        raise DockerfileError(str(error), file=file, line=parsed[0].location.line) from None
    if isinstance(instruction, From):
        raise DockerfileError("*instructions.Stage is not a command type", file=file)
    return instruction


def _close(stages: list[Stage], body: list[Instruction]) -> None:
    if stages:
        last = stages[-1]
        stages[-1] = Stage(index=last.index, base=last.base, instructions=tuple(body))


def _typed(item: _Parsed, file: str) -> Instruction:
    try:
        return typed_instruction(item.node, item.location)
    except InstructionError as error:
        raise DockerfileError(
            f"dockerfile parse error on line {item.location.line}: {error}", file=file,
            line=item.location.line, end_line=item.location.end_line) from None


def _read(lines: Lines, file: str) -> list[_Parsed]:
    parsed: list[_Parsed] = []
    try:
        while (logical := lines.next_logical()) is not None:
            try:
                node = node_from_line(logical.text, lines.escape)
                if node.can_contain_heredoc() and "<<" in logical.text:
                    node.heredocs = heredocs_in_line(logical.text)
            except NodeError as error:
                raise LineError(str(error), logical.start, lines.line) from None
            for heredoc in node.heredocs:
                heredoc.content = lines.read_heredoc(heredoc.name, heredoc.chomp,
                                                     logical.start)
            location = Location(file=file, line=logical.start, end_line=lines.line)
            parsed.append(_Parsed(node, location, logical.empty_continuation))
    except LineError as error:
        raise DockerfileError(f"failed to parse {file}: {error.message}", file=file,
                              line=error.line, end_line=error.end_line) from None
    if not parsed:
        raise DockerfileError(f"failed to parse {file}: file with no instructions", file=file,
                              line=lines.line)
    return parsed

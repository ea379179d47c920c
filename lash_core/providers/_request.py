"""What every provider does to a request before it sends anything.

* :func:`part_body` / :func:`render_text_part`: a part's model-visible text, its prune
  state honoured (cleared, deleted, summarized), code fenced and errors prefixed;
  :data:`TEXT_PART_KINDS` are the part kinds that go on the wire as plain text;
* :func:`attachment_refs` / :func:`load_attachments`: the request's attachments, checked
  against the model spec and the API before anything is sent, and their bytes (from the
  request, else from an :data:`AttachmentLoader`);
* :func:`check_output_spec`: the request's structured-output spec, checked against the
  model spec and the API before anything is sent;
* :func:`invalid_request`: the non-retryable ``validation`` error for a request that
  cannot be sent.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Sequence

from lash_core.errors import ProviderError
from lash_core.model import (
    AttachmentRef,
    Cleared,
    Deleted,
    LlmRequest,
    Message,
    Part,
    PartKind,
    ProviderFailureKind,
    Summarized,
)
from lash_core.providers._contract import provider_error

__all__ = [
    "CLEARED",
    "TEXT_PART_KINDS",
    "AttachmentLoader",
    "attachment_refs",
    "check_output_spec",
    "invalid_request",
    "load_attachments",
    "media_type_allowed",
    "part_body",
    "render_text_part",
]

CLEARED = "[content cleared]"
"""What the model sees of a part whose content was cleared."""

TEXT_PART_KINDS = (PartKind.TEXT, PartKind.PROSE, PartKind.CODE, PartKind.OUTPUT, PartKind.ERROR)
"""Part kinds sent as plain text (see :func:`render_text_part`)."""

AttachmentLoader = Callable[[AttachmentRef], Awaitable[bytes]]
"""Reads an attachment's bytes from the session's attachment store (used when the request's
``attachment_data`` lacks them, e.g. when the provider is called directly)."""


def invalid_request(message: str, code: str) -> ProviderError:
    """A non-retryable ``validation`` error raised before anything is sent."""
    return provider_error(ProviderFailureKind.VALIDATION, message, retryable=False, code=code)


def part_body(part: Part) -> str:
    """A part's model-visible text, honouring its prune state."""
    state = part.prune_state
    if isinstance(state, Cleared):
        return CLEARED
    if isinstance(state, Deleted):
        return state.breadcrumb
    if isinstance(state, Summarized):
        return state.summary
    return part.content


def render_text_part(part: Part) -> str:
    """Text for parts that are plain text on the wire (text, prose, code, output, error)."""
    body = part_body(part)
    if part.kind is PartKind.CODE and body:
        return f"```\n{body}\n```"
    if part.kind is PartKind.ERROR and body:
        return f"Error: {body}"
    return body


def attachment_refs(messages: Sequence[Message]) -> list[AttachmentRef]:
    """Every attachment referenced by the messages, in order."""
    return [p.attachment for m in messages for p in m.parts if p.kind is PartKind.ATTACHMENT and p.attachment]


def media_type_allowed(media_type: str, patterns: Sequence[str]) -> bool:
    """True when ``media_type`` matches one of the (``fnmatch``, case-insensitive) ``patterns``."""
    return any(fnmatch.fnmatchcase(media_type.lower(), pattern.lower()) for pattern in patterns)


def _check_media_types(
    request: LlmRequest,
    refs: Sequence[AttachmentRef],
    api_media_types: Sequence[str],
    api_name: str,
    advice: str,
) -> None:
    accepted = request.model.attachment_media_types
    for ref in refs:
        label = ref.name or ref.attachment_id
        if not media_type_allowed(ref.media_type, accepted):
            raise invalid_request(
                f"attachment {label!r} has media type {ref.media_type}, which model {request.model.id!r} "
                f"does not accept (its attachment_media_types: {', '.join(accepted) or 'none'}); add the "
                "type to the model spec if the model reads it, or remove the attachment",
                "unsupported_attachment",
            )
        if not media_type_allowed(ref.media_type, api_media_types):
            raise invalid_request(
                f"attachment {label!r} ({ref.media_type}) cannot be sent through {api_name}, which "
                f"carries {', '.join(api_media_types)}; {advice}",
                "unsupported_attachment",
            )


def check_output_spec(request: LlmRequest, *, api_output_specs: Sequence[str], api_name: str) -> None:
    """Refuse, before anything is sent, an output spec the model spec rules out
    (``structured_output = false``) or the API cannot carry (``api_output_specs``: the tags
    it carries, ``json_object`` / ``json_schema``)."""
    spec = request.output_spec
    if spec is None:
        return
    if not request.model.structured_output:
        raise invalid_request(
            f"the request asks for structured output ({spec.TAG}), but the model spec of {request.model.id!r} "
            "says structured_output = false; drop the output spec or use a model that supports it",
            "unsupported_output_spec",
        )
    if spec.TAG not in api_output_specs:
        carried = ", ".join(api_output_specs)
        raise invalid_request(
            f"{api_name or 'this provider'} does not support a {spec.TAG} output spec"
            + (
                f" (it supports: {carried}); ask for one of those"
                if carried
                else "; use a provider that does"
            )
            + ", or drop the output spec",
            "unsupported_output_spec",
        )


async def load_attachments(
    request: LlmRequest,
    *,
    api_media_types: Sequence[str],
    api_name: str,
    advice: str,
    loader: AttachmentLoader | None = None,
) -> dict[str, bytes]:
    """The bytes of the request's attachments by id, after checking every media type against
    the model spec and against ``api_media_types`` (what the API carries; ``api_name`` and
    ``advice`` word the error), so a request that cannot be sent fails before anything is."""
    refs = attachment_refs(request.messages)
    _check_media_types(request, refs, api_media_types, api_name, advice)
    data: dict[str, bytes] = {}
    for ref in refs:
        if ref.attachment_id in data:
            continue
        found = request.attachment_data.get(ref.attachment_id)
        if found is None and loader is not None:
            found = await loader(ref)
        if found is None:
            raise invalid_request(
                f"the bytes of attachment {ref.attachment_id} are not in the request (the runtime loads them "
                "into request.attachment_data); when calling the provider directly, pass them there or "
                "construct it with attachment_loader=",
                "attachment_data_missing",
            )
        data[ref.attachment_id] = found
    return data

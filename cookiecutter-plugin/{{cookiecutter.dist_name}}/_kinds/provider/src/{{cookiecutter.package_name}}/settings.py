"""Settings of the ``{{ cookiecutter.entry_point_name }}`` provider: the ``settings`` of
``[providers.<id>]`` with ``type = "{{ cookiecutter.entry_point_name }}"``.

``api_key`` is a plain key or ``$env:NAME``; unset, ``{{ cookiecutter.__env_prefix }}_API_KEY`` (or the
variable ``api_key_env`` names) is read. The key never appears in ``repr``, logs or errors.
"""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import ge, min_len, optional
from lash_core.providers import RetryPolicy, Timeouts

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_KEY_ENV", "{{ cookiecutter.__class_prefix }}Settings"]

DEFAULT_BASE_URL = "https://api.{{ cookiecutter.__slug }}.example"
"""Where the API lives unless ``base_url`` says otherwise (replace with your vendor's)."""

DEFAULT_KEY_ENV = "{{ cookiecutter.__env_prefix }}_API_KEY"


@frozen(kw_only=True)
class {{ cookiecutter.__class_prefix }}Settings:
    """Settings of the ``{{ cookiecutter.entry_point_name }}`` provider.

    * ``base_url``: the API's address (requests go to ``{base_url}/v1/chat``);
    * ``api_key``: the key, or ``$env:NAME`` to read it from a variable;
    * ``api_key_env``: the variable read when ``api_key`` is unset
      (default ``{{ cookiecutter.__env_prefix }}_API_KEY``);
    * ``max_output_tokens``: a cap on the answer's length, on top of the model spec's;
    * ``timeouts``: ``request_seconds`` (a whole buffered call) and ``stream_idle_seconds``
      (the longest silence of a stream);
    * ``retry``: the retry ladder (``max_attempts``, ``base_delay_seconds``, ...); ``enabled =
      false`` turns retries off.
    """

    base_url: str = field(default=DEFAULT_BASE_URL, validator=min_len(1))
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = field(default=DEFAULT_KEY_ENV, validator=min_len(1))
    max_output_tokens: int | None = field(default=None, validator=optional(ge(1)))
    timeouts: Timeouts = field(factory=Timeouts)
    retry: RetryPolicy = field(factory=RetryPolicy)

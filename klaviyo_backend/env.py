"""The one reader of settings: environment variables (and a `.env` file), each checked when read.

Every reader names its variable and says what a good value is. A bad value is noted and the
reader returns the default, so that the rest of the settings can still be read; `check()`, the
last line of settings.py, then raises one ImproperlyConfigured that names every bad variable,
so an operator fixes them all in one go, before the process serves anything.

An empty number, duration or flag counts as unset (its default), as with `FOO=${FOO:-}` in a
compose file; an empty string is a value (an empty KLAVIYO_API_KEY means "no key").
"""

import builtins
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", "f"})
Number = int | float
T = TypeVar("T")
# What django-environ makes a cache of; the others (memcache, files, ...) aren't shared by
# every worker and host like the throttle counters must be, or aren't installed.
CACHE_SCHEMES = ("redis", "rediss", "locmemcache", "dummycache")


class Env:
    def __init__(self, dotenv: Path | None = None) -> None:
        if dotenv is not None:
            # A local .env file is a convenience for development; deployments set the environment.
            environ.Env.read_env(dotenv, overwrite=False)
        self.problems: builtins.list[str] = []

    def __contains__(self, name: str) -> bool:
        return name in os.environ

    # --- Readers ----------------------------------------------------------------------------

    def str(
        self,
        name: builtins.str,
        default: builtins.str,
        *,
        choices: tuple[builtins.str, ...] = (),
        pattern: builtins.str = "",
        required: builtins.bool = False,
    ) -> builtins.str:
        """`choices` are matched case-insensitively and returned as spelled there; `pattern`
        must match the whole value unless it is empty (allowed unless `required`). The message
        gives the default as an example of a good value."""
        value = os.environ.get(name, default)
        if required and not value.strip():
            return self._bad(name, value, "must not be empty", default)
        if choices:
            found = next((c for c in choices if c.lower() == value.strip().lower()), None)
            if found is None:
                return self._bad(name, value, f"must be one of {', '.join(choices)}", default)
            return found
        if pattern and value and not re.fullmatch(pattern, value):
            return self._bad(name, value, f"must look like {default or pattern}", default)
        return value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        return self._bad(name, raw, "must be true or false", default)

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        min: builtins.int | None = None,
        max: builtins.int | None = None,
    ) -> builtins.int:
        return self._number(name, default, builtins.int, "an integer", min=min, max=max)

    def float(
        self,
        name: builtins.str,
        default: builtins.float,
        *,
        min: builtins.float | None = None,
        max: builtins.float | None = None,
        above: builtins.float | None = None,
    ) -> builtins.float:
        """`above` is an exclusive lower bound (a timeout above 0), `min` an inclusive one."""
        value = self._number(name, default, builtins.float, "a number", min=min, max=max)
        if above is not None and not value > above:
            return self._bad(name, self._raw(name), f"must be above {above:g}", default)
        return value

    def list(
        self, name: builtins.str, default: builtins.list[builtins.str]
    ) -> builtins.list[builtins.str]:
        """Comma-separated; blanks around items and empty items are dropped."""
        raw = os.environ.get(name)
        if raw is None:
            return builtins.list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def url(
        self,
        name: builtins.str,
        default: builtins.str,
        *,
        schemes: tuple[builtins.str, ...],
        required: builtins.bool = False,
    ) -> builtins.str:
        """A URL with one of `schemes` and a host, or empty (unless `required`). The value is
        never echoed in the message: it may hold a password."""
        value = os.environ.get(name, default).strip()
        if not value:
            return self._bad(name, None, "must not be empty", default) if required else value
        problem = url_problem(value, schemes=schemes)
        if problem:
            return self._bad(name, None, problem, default)
        return value

    def parsed(
        self, name: builtins.str, default: builtins.str, parse: Callable[[builtins.str], T]
    ) -> T:
        """`parse` of the value (unset: of `default`); a ValueError it raises names the problem,
        and then `parse(default)` is returned."""
        raw = os.environ.get(name)
        if raw is None:
            return parse(default)
        try:
            return parse(raw)
        except (ValueError, TypeError, KeyError, ImproperlyConfigured) as error:
            return self._bad(name, raw, builtins.str(error), parse(default))

    def db(self, name: builtins.str, default: builtins.str) -> builtins.dict[builtins.str, Any]:
        """A Django DATABASES entry from a sqlite:/// or mysql:// URL (empty: the default)."""
        value = os.environ.get(name, "").strip() or default
        problem = url_problem(value, schemes=("sqlite", "mysql"), host=False)
        if problem:
            return self._bad(name, None, problem, environ.Env.db_url_config(default))
        return environ.Env.db_url_config(value)

    def cache(self, name: builtins.str) -> builtins.dict[builtins.str, Any]:
        """A Django CACHES entry from a URL like redis://host:6379/1 (empty: process memory)."""
        value = self.url(name, "", schemes=CACHE_SCHEMES)
        if not value:
            return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        return environ.Env.cache_url_config(value)

    def require(self, condition: builtins.bool, name: builtins.str, why: builtins.str) -> None:
        """A rule over several knobs: `name` is the one to change, `why` says the rule."""
        if not condition:
            self.problems.append(f"{name}: {why}")

    def check(self) -> None:
        if self.problems:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            raise ImproperlyConfigured(
                f"Bad settings (each is described in .env.example):\n{lines}"
            )

    # --- Helpers --------------------------------------------------------------------------------

    def _raw(self, name: builtins.str) -> builtins.str | None:
        raw = os.environ.get(name, "").strip()
        return raw or None

    def _number(
        self,
        name: builtins.str,
        default: Any,
        cast: type,
        what: builtins.str,
        *,
        min: Number | None,
        max: Number | None,
    ) -> Any:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = cast(raw.replace("_", ""))
        except ValueError:
            return self._bad(name, raw, f"must be {what}", default)
        if cast is builtins.float and not math.isfinite(value):
            return self._bad(name, raw, f"must be {what}", default)
        if min is not None and value < min:
            return self._bad(name, raw, f"must be at least {min:,}", default)
        if max is not None and value > max:
            return self._bad(name, raw, f"must be at most {max:,}", default)
        return value

    def _bad(
        self, name: builtins.str, raw: builtins.str | None, why: builtins.str, default: Any
    ) -> Any:
        shown = f"={raw!r}" if raw is not None else ""
        self.problems.append(f"{name}{shown}: {why}")
        return default


def url_problem(value: str, *, schemes: tuple[str, ...], host: bool = True) -> str:
    """What is wrong with a URL, or "" when nothing is; `host`: it must name one."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
    except ValueError as error:
        return f"is not a URL ({error})"
    if parts.scheme not in schemes:
        return f"must start with {' or '.join(s + '://' for s in schemes)}"
    if host and not parts.hostname:
        return "must name a host"
    return ""

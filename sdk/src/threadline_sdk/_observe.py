"""Tracing: the ``observe`` decorator, ``span``/``trace`` context managers and the ``Observation`` handle."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from threadline_sdk import _state
from threadline_sdk import attributes as attr
from threadline_sdk._serialize import encode, json_attribute
from threadline_sdk._session import SessionScope, current_session

logger = logging.getLogger("threadline_sdk")

P = ParamSpec("P")
R = TypeVar("R")
ObservationType = Literal["span", "generation", "tool", "retriever", "agent", "embedding"]
MAX_STREAM_ITEMS = 10_000


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _primitive(value: Any) -> AttributeValue:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return json_attribute(value)


class Observation:
    """A span seen from the SDK: set its input, output, model, token usage, cost, metadata and attributes.

    Returned by ``span()``, ``trace()``, ``TraceHandle.span()`` and :func:`current_observation` (which wraps whatever
    span is current, whoever started it); ``otel_span`` is the OpenTelemetry span itself. Every method is safe on a
    non-recording span and never raises.
    """

    def __init__(self, span: Span, as_type: str = "span") -> None:
        self.otel_span = span
        self.as_type = as_type

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits (the id of ``GET /v1/traces/{trace_id}``)."""
        return format(self.otel_span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        """The span id as 16 hex digits."""
        return format(self.otel_span.get_span_context().span_id, "016x")

    def update(self, *, input: Any = UNSET, output: Any = UNSET, model: str | None = None,
               response_model: str | None = None, input_tokens: int | None = None,
               output_tokens: int | None = None, total_tokens: int | None = None, cost_usd: float | None = None,
               usage: Any = None, metadata: Mapping[str, Any] | None = None, system: str | None = None,
               attributes: Mapping[str, Any] | None = None, name: str | None = None) -> Observation:
        """Record facts about the span (only what is given). ``usage`` may be an OpenAI/Anthropic style usage object
        or mapping (``prompt_tokens``/``completion_tokens`` or ``input_tokens``/``output_tokens``). Token counts and
        models become the GenAI semantic convention attributes; ``cost_usd`` becomes ``gen_ai.usage.cost``;
        ``metadata`` is merged over the span's (e.g. its session's)."""
        try:
            span = self.otel_span
            if name:
                span.update_name(name)
            if input is not UNSET:
                _set_payload(span, attr.INPUT_VALUE, attr.INPUT_MIME_TYPE, input, force=True)
            if output is not UNSET:
                _set_payload(span, attr.OUTPUT_VALUE, attr.OUTPUT_MIME_TYPE, output, force=True)
            if model:
                span.set_attribute(attr.GEN_AI_REQUEST_MODEL, model)
            if response_model:
                span.set_attribute(attr.GEN_AI_RESPONSE_MODEL, response_model)
            if system:
                span.set_attribute(attr.GEN_AI_SYSTEM, system)
            if usage is not None:
                found_in, found_out, found_total = _usage_counts(usage)
                input_tokens = input_tokens if input_tokens is not None else found_in
                output_tokens = output_tokens if output_tokens is not None else found_out
                total_tokens = total_tokens if total_tokens is not None else found_total
            if input_tokens is not None:
                span.set_attribute(attr.GEN_AI_INPUT_TOKENS, int(input_tokens))
            if output_tokens is not None:
                span.set_attribute(attr.GEN_AI_OUTPUT_TOKENS, int(output_tokens))
            if total_tokens is not None:
                span.set_attribute(attr.LLM_TOTAL_TOKENS, int(total_tokens))
            if cost_usd is not None:
                span.set_attribute(attr.GEN_AI_COST, float(cost_usd))
            if metadata:
                span.set_attribute(attr.METADATA, json_attribute({**_current_metadata(span), **metadata}))
            for key, value in (attributes or {}).items():
                span.set_attribute(key, _primitive(value))
        except Exception:
            logger.debug("threadline: could not update a span", exc_info=True)
        return self

    def set_error(self, error: BaseException | str) -> None:
        """Mark the span failed (status ERROR), recording the exception if one is given."""
        try:
            if isinstance(error, BaseException):
                self.otel_span.record_exception(error)
                self.otel_span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            else:
                self.otel_span.set_status(Status(StatusCode.ERROR, error))
        except Exception:
            logger.debug("threadline: could not mark a span failed", exc_info=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(trace_id={self.trace_id}, span_id={self.span_id}, as_type={self.as_type!r})"


def _current_metadata(span: Span) -> dict[str, Any]:
    """The span's ``metadata`` object so far (e.g. the session's), to merge new keys over."""
    current = (getattr(span, "attributes", None) or {}).get(attr.METADATA)
    if not isinstance(current, str):
        return {}
    try:
        value = json.loads(current)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def current_observation() -> Observation:
    """The current span (whoever started it) as an :class:`Observation`; a no-op one outside any span."""
    return Observation(otel_trace.get_current_span())


def update_current(**fields: Any) -> None:
    """``current_observation().update(**fields)``: e.g. inside an ``@observe(as_type="generation")`` function,
    ``threadline_sdk.update_current(model="gpt-4o", input_tokens=120, output_tokens=40)``."""
    current_observation().update(**fields)


# internals shared by observe and the context managers


def _set_payload(span: Span, value_key: str, mime_key: str, value: Any, *, force: bool) -> None:
    if not span.is_recording():
        return
    if not force and (getattr(span, "attributes", None) or {}).get(value_key) is not None:
        return  # set explicitly through update(); keep it
    settings = _state.capture
    text, mime = encode(value, max_chars=settings.max_payload_chars, redact=settings.redact)
    span.set_attribute(value_key, text)
    span.set_attribute(mime_key, mime)


def _usage_counts(usage: Any) -> tuple[int | None, int | None, int | None]:
    def get(name: str) -> int | None:
        value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    input_tokens = get("input_tokens")
    output_tokens = get("output_tokens")
    return (input_tokens if input_tokens is not None else get("prompt_tokens"),
            output_tokens if output_tokens is not None else get("completion_tokens"),
            get("total_tokens"))


def _extract_generation(span: Span, output: Any) -> None:
    """Model and token usage from an OpenAI/Anthropic-style response (``.model``, ``.usage``), unless already set."""
    existing = getattr(span, "attributes", None) or {}
    usage = output.get("usage") if isinstance(output, Mapping) else getattr(output, "usage", None)
    if usage is not None and attr.GEN_AI_INPUT_TOKENS not in existing and attr.GEN_AI_OUTPUT_TOKENS not in existing:
        input_tokens, output_tokens, total = _usage_counts(usage)
        if input_tokens is not None:
            span.set_attribute(attr.GEN_AI_INPUT_TOKENS, input_tokens)
        if output_tokens is not None:
            span.set_attribute(attr.GEN_AI_OUTPUT_TOKENS, output_tokens)
        if total is not None:
            span.set_attribute(attr.LLM_TOTAL_TOKENS, total)
    model = output.get("model") if isinstance(output, Mapping) else getattr(output, "model", None)
    if isinstance(model, str) and model and attr.GEN_AI_RESPONSE_MODEL not in existing:
        span.set_attribute(attr.GEN_AI_RESPONSE_MODEL, model)


def _type_attributes(as_type: str, name: str, model: str | None) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {attr.SPAN_KIND: attr.SPAN_KINDS.get(as_type, "CHAIN")}
    operation = attr.GEN_AI_OPERATIONS.get(as_type)
    if operation:
        attributes[attr.GEN_AI_OPERATION] = operation
    if as_type == "tool":
        attributes[attr.TOOL_NAME] = name
        attributes[attr.GEN_AI_TOOL_NAME] = name
    if model:
        attributes[attr.GEN_AI_REQUEST_MODEL] = model
    return attributes


def _start_span(name: str, as_type: str, model: str | None, attributes: Mapping[str, Any] | None,
                context: otel_context.Context | None = None) -> Span:
    all_attributes = _type_attributes(as_type, name, model)
    for key, value in (attributes or {}).items():
        all_attributes[key] = _primitive(value)
    return _state.get_tracer().start_span(name, context=context, attributes=all_attributes)


def _fail(span: Span, exc: BaseException) -> None:
    try:
        if isinstance(exc, Exception):
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        else:  # cancelled, interrupted, generator closed: not an error of the function
            span.set_attribute("threadline.interrupted", type(exc).__name__)
    except Exception:
        logger.debug("threadline: could not record an exception", exc_info=True)


def _finish(span: Span, output: Any, *, capture_output: bool, as_type: str) -> None:
    try:
        if span.is_recording():
            if capture_output and _state.capture.capture_output:
                _set_payload(span, attr.OUTPUT_VALUE, attr.OUTPUT_MIME_TYPE, output, force=False)
            if as_type == "generation" and output is not None:
                _extract_generation(span, output)
        span.end()
    except Exception:
        logger.debug("threadline: could not end a span", exc_info=True)


def _end(span: Span) -> None:
    try:
        span.end()
    except Exception:
        logger.debug("threadline: could not end a span", exc_info=True)


def _attach(span: Span) -> object | None:
    try:
        return otel_context.attach(otel_trace.set_span_in_context(span))
    except Exception:
        return None


def _detach(token: object | None) -> None:
    if token is None:
        return
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    except Exception:
        logger.debug("threadline: could not detach a context", exc_info=True)


# observe


class _Spec:
    """What one decorated function records."""

    def __init__(self, fn: Callable[..., Any], name: str | None, as_type: str, capture_input: bool | None,
                 capture_output: bool | None, model: str | None, attributes: Mapping[str, Any] | None) -> None:
        qualname = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "function"))
        self.name: str = name or qualname.rsplit("<locals>.", 1)[-1]  # Class.method, or the function's name
        self.as_type = as_type if as_type in attr.SPAN_KINDS else "span"
        self.capture_input = capture_input
        self.capture_output = True if capture_output is None else capture_output
        self.model = model
        self.attributes = dict(attributes or {})
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None

    def inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.signature is None:
            return {"args": list(args), "kwargs": kwargs}
        bound = self.signature.bind_partial(*args, **kwargs)
        values: dict[str, Any] = {}
        for pname, value in bound.arguments.items():
            kind = self.signature.parameters[pname].kind
            if pname in ("self", "cls") and kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
                continue
            if kind is inspect.Parameter.VAR_KEYWORD:
                values.update(value)
            else:
                values[pname] = value
        if len(values) == 1:
            only = next(iter(values.values()))
            if isinstance(only, str):
                return only  # a lone string argument is recorded as text (e.g. the user's question)
        return values

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span | None:
        """Start the span (with its input); ``None`` if that failed: the function then runs untraced."""
        try:
            span = _start_span(self.name, self.as_type, self.model, self.attributes)
            capture = _state.capture.capture_input if self.capture_input is None else self.capture_input
            if capture and span.is_recording():
                _set_payload(span, attr.INPUT_VALUE, attr.INPUT_MIME_TYPE, self.inputs(args, kwargs), force=True)
            return span
        except Exception:
            logger.debug("threadline: could not start a span", exc_info=True)
            return None

    def finish(self, span: Span, output: Any) -> None:
        _finish(span, output, capture_output=self.capture_output, as_type=self.as_type)


def _stream_output(items: list[Any]) -> Any:
    if items and all(isinstance(i, str) for i in items):
        return "".join(items)  # streamed text chunks
    return items


class _ObservedGenerator(Generator[Any, Any, Any]):
    """A generator traced as one span from its first step to its end. Every step runs in a copy of the context it
    was created in, so its spans keep their parent and session wherever it is consumed (e.g. a streaming response)."""

    def __init__(self, fn: Callable[..., Generator[Any, Any, Any]], spec: _Spec, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self._spec, self._args, self._kwargs = spec, args, kwargs
        self._context = contextvars.copy_context()
        self._started = False
        self._span: Span | None = None
        self._items: list[Any] = []
        self._done = False
        self._gen = fn(*args, **kwargs)  # runs no code of the body yet; wrong arguments raise here, as unwrapped

    def _begin(self) -> Generator[Any, Any, Any]:
        if not self._started:
            self._started = True
            self._span = self._spec.start(self._args, self._kwargs)
            if self._span is not None:
                _attach(self._span)  # within this generator's own context
        return self._gen

    def _step(self, method: str, *args: Any) -> Any:
        gen = self._begin()
        try:
            item = getattr(gen, method)(*args)
        except StopIteration as stop:
            self._complete(stop.value)
            raise
        except BaseException as exc:
            self._abort(exc)
            raise
        if len(self._items) < MAX_STREAM_ITEMS:
            self._items.append(item)
        return item

    def _complete(self, value: Any) -> None:
        if not self._done and self._span is not None:
            self._spec.finish(self._span, _stream_output(self._items) if value is None else value)
        self._done = True

    def _abort(self, exc: BaseException) -> None:
        if not self._done and self._span is not None:
            if isinstance(exc, GeneratorExit):
                self._spec.finish(self._span, _stream_output(self._items))
            else:
                _fail(self._span, exc)
                _end(self._span)
        self._done = True

    def send(self, value: Any) -> Any:
        return self._context.run(self._step, "send", value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        return self._context.run(self._step, "throw", *(a for a in (typ, val, tb) if a is not None))

    def close(self) -> None:
        if not self._started or self._done:
            self._done = True
            self._gen.close()
            return
        self._context.run(self._close)

    def _close(self) -> None:
        try:
            self._gen.close()
        finally:
            self._complete(None)

    def __del__(self) -> None:
        if self._started and not self._done:
            with contextlib.suppress(Exception):
                self.close()


class _ObservedAsyncGenerator(AsyncGenerator[Any, Any]):
    """The async counterpart of :class:`_ObservedGenerator`: each step runs as a task in the creation context."""

    def __init__(self, fn: Callable[..., AsyncGenerator[Any, Any]], spec: _Spec, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self._spec, self._args, self._kwargs = spec, args, kwargs
        self._context = contextvars.copy_context()
        self._started = False
        self._span: Span | None = None
        self._items: list[Any] = []
        self._done = False
        self._gen = fn(*args, **kwargs)

    def _begin(self) -> AsyncGenerator[Any, Any]:
        if not self._started:
            self._started = True
            self._span = self._spec.start(self._args, self._kwargs)
            if self._span is not None:
                _attach(self._span)
        return self._gen

    async def _step(self, method: str, *args: Any) -> Any:
        gen = self._begin()
        try:
            item = await getattr(gen, method)(*args)
        except StopAsyncIteration:
            if not self._done and self._span is not None:
                self._spec.finish(self._span, _stream_output(self._items))
            self._done = True
            raise
        except BaseException as exc:
            if not self._done and self._span is not None:
                if isinstance(exc, GeneratorExit):
                    self._spec.finish(self._span, _stream_output(self._items))
                else:
                    _fail(self._span, exc)
                    _end(self._span)
            self._done = True
            raise
        if len(self._items) < MAX_STREAM_ITEMS:
            self._items.append(item)
        return item

    async def _run(self, method: str, *args: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (e.g. trio): step in the caller's context
            return await self._step(method, *args)
        return await asyncio.create_task(self._step(method, *args), context=self._context)

    async def asend(self, value: Any) -> Any:
        return await self._run("asend", value)

    async def athrow(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        return await self._run("athrow", *(a for a in (typ, val, tb) if a is not None))

    async def aclose(self) -> None:
        if not self._started or self._done:
            self._done = True
            await self._gen.aclose()
            return
        try:
            await self._gen.aclose()
        finally:
            if not self._done and self._span is not None:
                self._spec.finish(self._span, _stream_output(self._items))
            self._done = True

    def __del__(self) -> None:  # abandoned mid-stream: end the span with what was yielded (the loop closes the rest)
        if not self._done and self._span is not None:
            self._done = True
            with contextlib.suppress(Exception):
                self._spec.finish(self._span, _stream_output(self._items))


@overload
def observe(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def observe(func: None = None, /, *, name: str | None = None, as_type: ObservationType = "span",
            capture_input: bool | None = None, capture_output: bool | None = None, model: str | None = None,
            attributes: Mapping[str, Any] | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def observe(func: Callable[P, R] | None = None, /, *, name: str | None = None, as_type: ObservationType = "span",
            capture_input: bool | None = None, capture_output: bool | None = None, model: str | None = None,
            attributes: Mapping[str, Any] | None = None) -> Any:
    """Trace a function as a span: ``@observe`` or ``@observe(name=..., as_type=...)``.

    Works on sync and async functions, generators and async generators (a generator's span lasts from its first
    step to its end and records the yielded items, or their concatenation when they are strings, e.g. streamed
    tokens; it keeps the context it was created in, so a stream consumed elsewhere stays in its trace and session).

    Args:
        name: the span name (default: the function's qualified name).
        as_type: ``span`` (OpenInference kind CHAIN), ``generation`` (LLM), ``tool`` (TOOL), ``retriever``
            (RETRIEVER), ``agent`` (AGENT) or ``embedding`` (EMBEDDING), set as ``openinference.span.kind``.
        capture_input, capture_output: record the arguments (as ``input.value``; a lone string argument as text,
            otherwise a JSON object by parameter name, without ``self``/``cls``) and the return value (as
            ``output.value``). Default: as configured by ``init``. Values are made JSON-safe, passed through the
            ``redact`` hook and capped at ``max_payload_chars``.
        model: for generations, the requested model (``gen_ai.request.model``).
        attributes: more span attributes.

    A ``generation`` that returns an OpenAI/Anthropic-style response (with ``.usage`` and ``.model``, or such a
    mapping) records its token usage and response model; otherwise call :func:`update_current` inside it.
    Exceptions are recorded on the span (status ERROR) and re-raised unchanged. Tracing failures never reach the
    function's caller.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        spec = _Spec(fn, name, as_type, capture_input, capture_output, model, attributes)
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                return _ObservedAsyncGenerator(cast(Callable[..., AsyncGenerator[Any, Any]], fn), spec, args, kwargs)

            return cast(Callable[P, R], agen_wrapper)
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                return _ObservedGenerator(cast(Callable[..., Generator[Any, Any, Any]], fn), spec, args, kwargs)

            return cast(Callable[P, R], gen_wrapper)
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                span = spec.start(args, kwargs)
                if span is None:
                    return await cast(Callable[..., Any], fn)(*args, **kwargs)
                token = _attach(span)
                try:
                    result = await cast(Callable[..., Any], fn)(*args, **kwargs)
                except BaseException as exc:
                    _fail(span, exc)
                    _end(span)
                    raise
                finally:
                    _detach(token)
                spec.finish(span, result)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            span = spec.start(args, kwargs)
            if span is None:
                return fn(*args, **kwargs)
            token = _attach(span)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                _fail(span, exc)
                _end(span)
                raise
            finally:
                _detach(token)
            spec.finish(span, result)
            return result

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate


# context managers


class SpanScope:
    """A span as a context manager (``with``/``async with``) yielding its :class:`Observation`; exceptions are
    recorded (status ERROR) and re-raised."""

    def __init__(self, name: str, *, as_type: ObservationType = "span", input: Any = UNSET, model: str | None = None,
                 metadata: Mapping[str, Any] | None = None, attributes: Mapping[str, Any] | None = None,
                 _root: bool = False) -> None:
        self.name = name
        self.as_type = as_type if as_type in attr.SPAN_KINDS else "span"
        self._input = input
        self._model = model
        self._metadata = metadata
        self._attributes = attributes
        self._root = _root
        self._span: Span | None = None
        self._token: object | None = None

    def _open(self) -> Observation:
        try:
            context = otel_context.Context() if self._root else None
            self._span = _start_span(self.name, self.as_type, self._model, self._attributes, context)
            observation = self._observation(self._span)
            observation.update(metadata=self._metadata)
            if self._input is not UNSET and _state.capture.capture_input:
                observation.update(input=self._input)
            self._token = _attach(self._span)
            return observation
        except Exception:
            logger.debug("threadline: could not start a span", exc_info=True)
            return self._observation(otel_trace.INVALID_SPAN)

    def _observation(self, span: Span) -> Observation:
        return Observation(span, self.as_type)

    def _close(self, exc: BaseException | None) -> None:
        span, self._span = self._span, None
        if span is None:
            return
        _detach(self._token)
        self._token = None
        if exc is not None:
            _fail(span, exc)
        _end(span)

    def __enter__(self) -> Observation:
        return self._open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close(exc)

    async def __aenter__(self) -> Observation:
        return self._open()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._close(exc)


def span(name: str, *, as_type: ObservationType = "span", input: Any = UNSET, model: str | None = None,
         metadata: Mapping[str, Any] | None = None, attributes: Mapping[str, Any] | None = None) -> SpanScope:
    """A child span of the current one: ``with threadline_sdk.span("retrieve", as_type="retriever") as s:``; then
    ``s.update(output=...)``. Same types and attributes as :func:`observe`."""
    return SpanScope(name, as_type=as_type, input=input, model=model, metadata=metadata, attributes=attributes)


class TraceHandle(Observation):
    """The root span of a :func:`trace`; open its child spans with :meth:`span` and :meth:`generation`."""

    def span(self, name: str, *, as_type: ObservationType = "span", input: Any = UNSET, model: str | None = None,
             metadata: Mapping[str, Any] | None = None, attributes: Mapping[str, Any] | None = None) -> SpanScope:
        """A span inside this trace (a child of the current span): ``with t.span("search", as_type="tool"):``."""
        return SpanScope(name, as_type=as_type, input=input, model=model, metadata=metadata, attributes=attributes)

    def generation(self, name: str, *, model: str | None = None, input: Any = UNSET,
                   metadata: Mapping[str, Any] | None = None,
                   attributes: Mapping[str, Any] | None = None) -> SpanScope:
        """An LLM call inside this trace: ``with t.generation("llm", model="gpt-4o") as g: g.update(usage=...)``."""
        return SpanScope(name, as_type="generation", input=input, model=model, metadata=metadata,
                         attributes=attributes)


class TraceScope(SpanScope):
    """A new trace (one turn): a root span, in the given session when ``session_id`` is set."""

    def __init__(self, name: str, *, session_id: str | None = None, user_id: str | None = None,
                 session_metadata: Mapping[str, Any] | None = None, tags: Iterable[str] | None = None,
                 as_type: ObservationType = "span", input: Any = UNSET, metadata: Mapping[str, Any] | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, as_type=as_type, input=input, metadata=metadata, attributes=attributes, _root=True)
        self._session_args: dict[str, Any] = {"session_id": session_id, "user_id": user_id,
                                              "metadata": session_metadata, "tags": tags}
        self._session: SessionScope | None = None

    def _observation(self, span: Span) -> TraceHandle:
        return TraceHandle(span, self.as_type)

    def _open(self) -> TraceHandle:
        args = self._session_args
        session_id = args["session_id"]
        if not session_id and any(args[k] for k in ("user_id", "metadata", "tags")):
            outer = current_session()  # user, metadata or tags for the current session
            session_id = outer.session_id if outer is not None else None
        if session_id:
            self._session = SessionScope(session_id, user_id=args["user_id"], metadata=args["metadata"],
                                         tags=args["tags"])
            self._session.__enter__()
        elif args["user_id"]:
            self._attributes = {**(self._attributes or {}), attr.USER_ID: args["user_id"]}
        return cast(TraceHandle, super()._open())

    def _close(self, exc: BaseException | None) -> None:
        try:
            super()._close(exc)
        finally:
            session, self._session = self._session, None
            if session is not None:
                session.__exit__(None, None, None)

    def __enter__(self) -> TraceHandle:
        return self._open()

    async def __aenter__(self) -> TraceHandle:
        return self._open()


def trace(name: str, *, session_id: str | None = None, user_id: str | None = None,
          session_metadata: Mapping[str, Any] | None = None, tags: Iterable[str] | None = None,
          as_type: ObservationType = "span", input: Any = UNSET, metadata: Mapping[str, Any] | None = None,
          attributes: Mapping[str, Any] | None = None) -> TraceScope:
    """Start a new trace (one turn of a conversation), as a root span::

        with threadline_sdk.trace("turn", session_id="chat-123", user_id="u1", input=question) as t:
            with t.span("retrieve", as_type="retriever") as r:
                r.update(output=docs)
            with t.generation("llm", model="gpt-4o-mini") as g:
                g.update(output=answer, input_tokens=120, output_tokens=40)
            t.update(output=answer)

    With ``session_id`` (or ``user_id``, ``session_metadata``, ``tags``) the trace runs inside
    ``session(session_id, ...)``, so every span started within joins the session; without, it joins the current
    session, if any. ``metadata`` is the trace's own (on its root span). The trace is always a new root, even inside
    another span.
    """
    return TraceScope(name, session_id=session_id, user_id=user_id, session_metadata=session_metadata, tags=tags,
                      as_type=as_type, input=input, metadata=metadata, attributes=attributes)

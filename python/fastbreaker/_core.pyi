"""Type stubs for the compiled core, ``fastbreaker._core``."""

from os import PathLike
from typing import (
    Any,
    Awaitable,
    Callable,
    Coroutine,
    Dict,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
    final,
)

from typing_extensions import disjoint_base

from ._state import CircuitBreakerStatus, CircuitState

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

__version__: str
__all__ = [
    "Options",
    "RedisStore",
    "_after_fork",
    "get_default_store",
    "set_default_store",
    "TransitionEvent",
    "_manual_clock_advance",
    "_manual_clock_start",
    "_manual_clock_stop",
    "_monotonic",
    "_is_coroutine_function",
    "get_all_circuit_breaker_statuses",
    "all_circuit_breakers",
    "_registry_snapshot",
    "_registry_restore",
    "_set_call_counting",
    "get_circuit_breaker",
    "get_circuit_breaker_status",
    "reset_circuit_breaker",
    "Permit",
    "Protected",
    "GuardedCall",
    "CircuitBreaker",
    "CircuitBreakerError",
    "__version__",
]

@disjoint_base
class CircuitBreakerError(Exception):
    """Raised instead of calling the protected function while the circuit is open (or while every
    half-open trial slot is taken)."""

    def __new__(
        cls, *args: object, name: Optional[str] = None, retry_after: float = 0.0
    ) -> CircuitBreakerError: ...
    def __init__(
        self, *args: object, name: Optional[str] = None, retry_after: float = 0.0
    ) -> None: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def retry_after(self) -> float: ...
    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]: ...

_ExceptionClasses = Union[Type[Exception], Sequence[Type[Exception]]]

@final
class RedisStore:
    """A handle on one Redis server through which breakers share their state with every process
    that uses the same server, namespace and breaker name. Defaults: namespace "fastbreaker",
    timeout 0.05 s, store_unavailable "local", refresh_interval 5 s, key_ttl 86400 s."""

    def __new__(
        cls,
        url: str,
        *,
        namespace: str = ...,
        timeout: float = ...,
        store_unavailable: Literal["local", "closed", "open"] = ...,
        refresh_interval: float = ...,
        key_ttl: float = ...,
        ssl_ca_certs: Union[str, PathLike[str], None] = None,
        ssl_certfile: Union[str, PathLike[str], None] = None,
        ssl_keyfile: Union[str, PathLike[str], None] = None,
    ) -> RedisStore: ...
    @property
    def url(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def store_unavailable(self) -> Literal["local", "closed", "open"]: ...
    @property
    def refresh_interval(self) -> float: ...
    @property
    def key_ttl(self) -> float: ...
    @property
    def reachable(self) -> bool: ...

_StoreArg = Union[RedisStore, Literal["memory"], None]

def set_default_store(store: Union[RedisStore, str, None]) -> None: ...
def get_default_store() -> Optional[RedisStore]: ...
def _after_fork() -> None: ...

@final
class Options:
    """A breaker's options, checked once (the decorator builds one for all it decorates)."""

    def __new__(
        cls,
        *,
        failure_threshold: Optional[int] = ...,
        recovery_timeout: float = ...,
        success_threshold: int = ...,
        expected_exceptions: _ExceptionClasses = ...,
        name: Optional[str] = None,
        half_open_max_calls: int = ...,
        trial_timeout: Optional[float] = ...,
        store: _StoreArg = ...,
        failure_rate_threshold: Optional[float] = None,
        minimum_calls: Optional[int] = None,
        window_seconds: Optional[float] = None,
        window_calls: Optional[int] = None,
        slow_call_duration: Optional[float] = None,
        slow_call_rate_threshold: Optional[float] = None,
        recovery_backoff: Optional[float] = None,
        max_recovery_timeout: Optional[float] = None,
        recovery_jitter: Optional[float] = None,
        honor_retry_after: Optional[bool] = None,
        max_retry_after: Optional[float] = None,
        result_is_failure: Optional[Callable[[Any], object]] = None,
        exception_is_failure: Optional[Callable[[Exception], object]] = None,
    ) -> Options: ...

@final
class TransitionEvent:
    """One change of a circuit's state, as a listener receives it."""

    @property
    def name(self) -> str: ...
    @property
    def old_state(self) -> CircuitState: ...
    @property
    def new_state(self) -> CircuitState: ...
    @property
    def reason(self) -> str: ...
    @property
    def failure_count(self) -> int: ...
    @property
    def success_count(self) -> int: ...
    @property
    def time(self) -> float: ...
    @property
    def remote(self) -> bool: ...

@final
class CircuitBreaker:
    def __new__(
        cls,
        failure_threshold: Optional[int] = ...,
        recovery_timeout: float = ...,
        success_threshold: int = ...,
        expected_exceptions: _ExceptionClasses = ...,
        name: Optional[str] = None,
        half_open_max_calls: int = ...,
        trial_timeout: Optional[float] = ...,
        store: _StoreArg = ...,
        *,
        failure_rate_threshold: Optional[float] = None,
        minimum_calls: Optional[int] = None,
        window_seconds: Optional[float] = None,
        window_calls: Optional[int] = None,
        slow_call_duration: Optional[float] = None,
        slow_call_rate_threshold: Optional[float] = None,
        recovery_backoff: Optional[float] = None,
        max_recovery_timeout: Optional[float] = None,
        recovery_jitter: Optional[float] = None,
        honor_retry_after: Optional[bool] = None,
        max_retry_after: Optional[float] = None,
        result_is_failure: Optional[Callable[[Any], object]] = None,
        exception_is_failure: Optional[Callable[[Exception], object]] = None,
    ) -> CircuitBreaker: ...
    @staticmethod
    def _from_options(options: Options, default_name: Optional[str] = None) -> CircuitBreaker: ...
    def call(self, func: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T: ...
    def call_async(
        self, func: Callable[..., Awaitable[_T]], /, *args: Any, **kwargs: Any
    ) -> Coroutine[Any, Any, _T]: ...
    def __call__(self, func: _F, /, fallback: Optional[Callable[..., Any]] = None) -> _F: ...
    def acquire(self) -> Permit: ...
    def add_listener(self, listener: Callable[[TransitionEvent], object]) -> None: ...
    def remove_listener(self, listener: Callable[[TransitionEvent], object]) -> None: ...
    def get_status(self) -> CircuitBreakerStatus: ...
    def reset(self) -> None: ...
    def open(self, duration: Optional[float] = None) -> None: ...
    def isolate(self) -> None: ...
    def disable(self) -> None: ...
    @property
    def state(self) -> CircuitState: ...
    @property
    def failure_count(self) -> int: ...
    @property
    def success_count(self) -> int: ...
    @property
    def last_failure_time(self) -> Optional[float]: ...
    @property
    def name(self) -> str: ...
    @property
    def failure_threshold(self) -> Optional[int]: ...
    @property
    def recovery_timeout(self) -> float: ...
    @property
    def success_threshold(self) -> int: ...
    @property
    def half_open_max_calls(self) -> int: ...
    @property
    def trial_timeout(self) -> float: ...
    @property
    def expected_exceptions(self) -> Tuple[Type[Exception], ...]: ...
    @property
    def honor_retry_after(self) -> bool: ...
    @property
    def max_retry_after(self) -> float: ...

@final
class Permit:
    def record_success(self) -> bool: ...
    def record_failure(self, open_for: Optional[float] = None) -> bool: ...
    def record_ignored(self) -> bool: ...
    def record_exception(self, error: BaseException) -> bool: ...
    def _record_result(self, result: object) -> bool: ...
    @property
    def circuit_breaker(self) -> CircuitBreaker: ...
    @property
    def is_trial(self) -> bool: ...

@final
class Protected:
    def __new__(
        cls,
        breaker: CircuitBreaker,
        func: Callable[..., Any],
        fallback: Optional[Callable[..., Any]] = None,
    ) -> Protected: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, instance: Any, owner: Optional[type] = None, /) -> Any: ...
    def __copy__(self) -> Protected: ...
    def __deepcopy__(self, memo: object, /) -> Protected: ...
    @property
    def circuit_breaker(self) -> CircuitBreaker: ...
    @property
    def fallback(self) -> Optional[Callable[..., Any]]: ...
    @property
    def _drives_coroutines(self) -> bool: ...

@final
class GuardedCall(Coroutine[Any, Any, Any]):
    def __await__(self) -> GuardedCall: ...
    def __iter__(self) -> GuardedCall: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any, /) -> Any: ...
    def throw(self, *args: Any) -> Any: ...
    def close(self) -> Any: ...
    @property
    def cr_running(self) -> bool: ...
    @property
    def cr_frame(self) -> Any: ...
    @property
    def cr_await(self) -> Any: ...
    @property
    def cr_code(self) -> Any: ...
    @property
    def __name__(self) -> str: ...
    @property
    def __qualname__(self) -> str: ...

def get_circuit_breaker(
    name: str,
    *,
    failure_threshold: Optional[int] = ...,
    recovery_timeout: float = ...,
    success_threshold: int = ...,
    expected_exceptions: _ExceptionClasses = ...,
    half_open_max_calls: int = ...,
    trial_timeout: Optional[float] = ...,
    store: _StoreArg = ...,
    failure_rate_threshold: Optional[float] = None,
    minimum_calls: Optional[int] = None,
    window_seconds: Optional[float] = None,
    window_calls: Optional[int] = None,
    slow_call_duration: Optional[float] = None,
    slow_call_rate_threshold: Optional[float] = None,
    recovery_backoff: Optional[float] = None,
    max_recovery_timeout: Optional[float] = None,
    recovery_jitter: Optional[float] = None,
    honor_retry_after: Optional[bool] = None,
    max_retry_after: Optional[float] = None,
    result_is_failure: Optional[Callable[[Any], object]] = None,
    exception_is_failure: Optional[Callable[[Exception], object]] = None,
) -> CircuitBreaker: ...
def get_circuit_breaker_status(name: str) -> Optional[CircuitBreakerStatus]: ...
def reset_circuit_breaker(name: str) -> bool: ...
def get_all_circuit_breaker_statuses() -> Dict[str, CircuitBreakerStatus]: ...
def all_circuit_breakers() -> Dict[str, CircuitBreaker]: ...
def _registry_snapshot() -> Dict[str, CircuitBreaker]: ...
def _registry_restore(entries: Dict[str, CircuitBreaker]) -> None: ...
def _set_call_counting(enabled: bool) -> None: ...
def _manual_clock_start() -> None: ...
def _manual_clock_stop() -> None: ...
def _manual_clock_advance(seconds: float) -> float: ...
def _monotonic() -> float: ...
def _is_coroutine_function(func: object) -> bool: ...

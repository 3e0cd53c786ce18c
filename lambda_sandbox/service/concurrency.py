"""Concurrency and throttling: where an invoke gets its slot, or a 429.

Lambda's rule: a function with ReservedConcurrentExecutions runs at most that many invocations
at once (429 `ReservedFunctionConcurrentInvocationLimitExceeded` past it); every other function
shares what is left of the account's limit after all reservations
(429 `ConcurrentInvocationLimitExceeded`). A reservation may not leave the account fewer than
its minimum of unreserved concurrency (100), and reserving 0 stops a function from running.
"""

from __future__ import annotations

from collections.abc import Iterable

from lambda_sandbox.exceptions import (
    InvalidParameterValueException,
    ThrottleReason,
    TooManyRequestsException,
)
from lambda_sandbox.service.function_state import FunctionState

__all__ = ["Concurrency"]


class Concurrency:
    def __init__(self, account_limit: int, unreserved_minimum: int) -> None:
        self.account_limit = account_limit
        self.unreserved_minimum = unreserved_minimum
        self.unreserved_in_use = 0  # invocations of functions without a reservation
        self.reserved_total = 0  # the sum of every function's reservation

    def recount(self, functions: Iterable[FunctionState]) -> None:
        """Recompute the reservations' sum (after functions were added or changed)."""
        self.reserved_total = sum(f.reserved or 0 for f in functions)

    def acquire(self, state: FunctionState) -> None:
        """Take a slot for one invocation of `state`, or raise the 429 Lambda answers."""
        reserved = state.reserved
        if reserved is not None:
            if state.in_use >= reserved:
                state.stats.throttles += 1
                raise TooManyRequestsException(ThrottleReason.RESERVED)
        else:
            if self.unreserved_in_use >= self.account_limit - self.reserved_total:
                state.stats.throttles += 1
                raise TooManyRequestsException(ThrottleReason.ACCOUNT)
            self.unreserved_in_use += 1
        state.in_use += 1
        if state.in_use > state.stats.max_concurrency:
            state.stats.max_concurrency = state.in_use

    def release(self, state: FunctionState) -> None:
        state.in_use -= 1
        if state.reserved is None:
            self.unreserved_in_use -= 1

    def check_reservation(
        self, state: FunctionState, value: int, functions: Iterable[FunctionState]
    ) -> None:
        """PutFunctionConcurrency's rule: the account keeps its unreserved minimum."""
        others = sum(f.reserved or 0 for f in functions if f is not state)
        if value + others > self.account_limit - self.unreserved_minimum:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                "UnreservedConcurrentExecution below its minimum value of "
                f"[{self.unreserved_minimum}]."
            )

    def moved(self, state: FunctionState, was_unreserved: bool) -> None:
        """`state`'s reservation changed: move its running slots between the pools."""
        now_unreserved = state.reserved is None
        if was_unreserved != now_unreserved:
            self.unreserved_in_use += state.in_use if now_unreserved else -state.in_use

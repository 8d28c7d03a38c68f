"""What a mission's tokens cost, to show next to it. An estimate: the invoice is the truth."""

from __future__ import annotations

# US dollars per million tokens: (input, output). Cache writes cost 1.25 times the input
# price and cache reads 0.1 times, as Anthropic prices its five-minute prompt cache.
_PRICES: dict[str, tuple[float, float]] = {
    "claude-opus": (5.0, 25.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-haiku": (1.0, 5.0),
}


def estimate_cost(
    model: str, input_tokens: int, output_tokens: int, cache_read_tokens: int, cache_write_tokens: int
) -> float | None:
    """Estimates the price of some tokens in US dollars.

    Args:
        model: The model name, e.g. ``"claude-sonnet-5"``; its family decides the price.
        input_tokens: Uncached input tokens.
        output_tokens: Output tokens.
        cache_read_tokens: Input tokens read from the prompt cache.
        cache_write_tokens: Input tokens written to the prompt cache.

    Returns:
        The estimate, or None for a model whose price is unknown.
    """
    prices = next((p for family, p in _PRICES.items() if model.startswith(family)), None)
    if prices is None:
        return None
    per_input, per_output = prices[0] / 1e6, prices[1] / 1e6
    return (
        input_tokens * per_input
        + cache_write_tokens * per_input * 1.25
        + cache_read_tokens * per_input * 0.1
        + output_tokens * per_output
    )

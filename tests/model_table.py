"""The model table of docs/models.md, rendered from the catalogue (``lesson_batch.model_catalogue``,
read through ``lesson_batch.models``).

The catalogue is the one place that holds model facts; the page shows them. ``python -m
tests.model_table`` prints the table, and ``tests/test_models.py`` checks that the page holds
exactly what it prints, so the two cannot drift apart.
"""

from __future__ import annotations

from lesson_batch import models

HEADER = (
    "| model | reasons | efforts (default) | temperature | max output | Batch $ per 1M: input / cached / output "
    "| shuts down (replacement) | flex |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |"
)
TEMPERATURE = {
    models.TEMPERATURE_ALWAYS: "yes",
    models.TEMPERATURE_WITH_NONE: "with `none` only",
    models.TEMPERATURE_NEVER: "no",
}


def _known(value) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _money(value: float | None) -> str:
    """Dollars with two decimals, more where the price has them (0.025)."""
    if value is None:
        return "?"
    whole, _, cents = f"{value:.4f}".partition(".")
    return f"{whole}.{cents.rstrip('0').ljust(2, '0')}"


def row(info: models.ModelInfo) -> str:
    if info.efforts is None:
        efforts = "?"
    elif not info.efforts:
        efforts = "-"
    else:
        efforts = ", ".join(
            f"{effort} (default)" if effort == info.default_effort else effort for effort in info.efforts
        )
    price = info.batch_price
    prices = "-" if price is None else " / ".join(map(_money, (price.input, price.cached_input, price.output)))
    shutdown = "-" if info.shutdown is None else info.shutdown.isoformat()
    if info.replacement:
        shutdown += f" ({info.replacement})"
    output = "?" if info.max_output_tokens is None else f"{info.max_output_tokens:,}"
    return (
        f"| `{info.name}`{' (Responses API only)' if info.responses_only else ''} "
        f"| {'yes' if info.reasoning else 'no'} | {efforts} | {TEMPERATURE[info.temperature]} | {output} "
        f"| {prices} | {shutdown} | {_known(info.flex)} |"
    )


def table() -> str:
    return "\n".join([HEADER, *(row(info) for info in models.CATALOGUE.values())])


if __name__ == "__main__":
    print(table())

"""The model card line: name, architecture, size, dtype, device, date, package version."""

from __future__ import annotations

import datetime


def model_card(loaded) -> dict:
    from .. import __version__

    info = loaded.info()
    return {
        "name": info["model"],
        "architecture": info["architecture"],
        "model_type": info["model_type"],
        "parameters": info["parameters"],
        "layers": info["layers"],
        "dtype": info["dtype"],
        "device": info["device"],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "package_version": __version__,
    }


def card_line(card: dict) -> str:
    size = card["parameters"]
    size = f"{size / 1e9:.2f} B" if size >= 1e9 else f"{size / 1e6:.1f} M" if size >= 1e6 else f"{size:,}"
    return (f"{card['name']} · {card['architecture']} · {size} parameters, {card['layers']} layers · "
            f"{card['dtype']} on {card['device']} · {card['date']} · sw_core {card['package_version']}")

"""Model card written next to a trained model: card.json (facts) and a short README.md."""
from __future__ import annotations

import json
from pathlib import Path

from ..fsutil import atomic_write_text


def card_markdown(card: dict) -> str:
    mins = card.get("wall_time_s", 0) / 60
    counts = card.get("class_counts", {})
    losses = ", ".join(f"{k} {v:.3f}" for k, v in card.get("final_losses", {}).items())
    lines = [
        f"# {card['name']}",
        "",
        f"A {card['resolution']} px class-conditional {card['architecture']} trained with "
        "`dgp-studio train`, for use as a Deep Generative Prior.",
        "",
        "| | |", "|---|---|",
        f"| classes | {', '.join(f'{k} ({v} images)' for k, v in counts.items())} |",
        f"| training data | {card.get('n_images')} images from `{card.get('data_dir')}` |",
        f"| steps | {card.get('steps')} |",
        f"| wall time | {mins:.1f} min |",
        f"| hardware | {card.get('hardware')} |",
        f"| parameters | G {card.get('G_params'):,}, D {card.get('D_params'):,} |",
        f"| final losses (mean of the last {card.get('final_losses_steps') or 'logged'} steps) | {losses} |",
        "",
        f"Command: `{card.get('command') or '(library call)'}`",
        "",
        "![samples: a row per class](samples.png)",
        "",
    ]
    return "\n".join(lines)


def write_card(folder, card: dict, markdown: bool = True) -> None:
    folder = Path(folder)
    atomic_write_text(folder / "card.json", json.dumps(card, indent=2, default=str) + "\n")
    if markdown:
        atomic_write_text(folder / "README.md", card_markdown(card))

"""Container names: Docker's validation rule and random adjective_surname names."""

from __future__ import annotations

import re
import secrets

from ketch.errors import InvalidArgument

# Docker's own pattern ends in `+`, refusing one-character names; ketch takes
# them (`run --name r`), a superset no Docker client trips over.
VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")

ADJECTIVES = (
    "admiring", "agitated", "amazing", "awesome", "blissful", "bold", "brave", "busy",
    "charming", "clever", "compassionate", "competent", "confident", "cool", "dazzling",
    "determined", "eager", "ecstatic", "elastic", "elegant", "epic", "focused", "friendly",
    "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "laughing", "loving",
    "lucid", "magical", "modest", "nifty", "nostalgic", "optimistic", "peaceful", "practical",
    "priceless", "quirky", "relaxed", "serene", "sharp", "stoic", "sweet", "tender",
    "trusting", "upbeat", "vibrant", "wizardly", "youthful", "zealous",
)  # fmt: skip

SURNAMES = (
    "agnesi", "babbage", "bardeen", "bell", "bhabha", "boole", "curie", "darwin", "dijkstra",
    "einstein", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin",
    "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking", "hopper", "hypatia",
    "johnson", "kepler", "knuth", "lamarr", "leakey", "lovelace", "mccarthy", "meitner",
    "mendel", "newton", "nobel", "noether", "pascal", "pasteur", "ritchie", "shannon",
    "tesla", "thompson", "torvalds", "turing", "volta", "wilson", "wozniak", "yalow",
)  # fmt: skip


def random_name(retry: int = 0) -> str:
    """adjective_surname; after a collision Docker appends a digit, and so do we."""
    while True:
        name = f"{secrets.choice(ADJECTIVES)}_{secrets.choice(SURNAMES)}"
        if name != "boring_wozniak":  # Steve Wozniak is not boring
            break
    if retry:
        name += str(secrets.randbelow(10))
    return name


def validate(name: str) -> str:
    """The stored form "/name"; Docker's error text for anything else."""
    if not VALID_NAME.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return "/" + name.lstrip("/")


def new_id() -> str:
    return secrets.token_hex(32)

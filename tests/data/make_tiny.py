"""Writes the tiny deterministic atomic dataset used by the tests (tests/data/tiny/tiny.{inter,item}).

40 users, 30 items, 5 genres; each user's sequence is a random walk that mostly stays within a genre, so
path mining finds coherent runs. Run it again only to change the data: the files are committed.
"""
from pathlib import Path

import numpy as np

rng = np.random.default_rng(7)
GENRES = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi"]
N_ITEMS, N_USERS = 30, 40
item_genres = []
for i in range(N_ITEMS):
    first = i % len(GENRES)
    extra = [int(rng.integers(len(GENRES)))] if rng.random() < 0.3 else []
    item_genres.append(sorted({first, *extra}))
by_genre = {g: [i for i in range(N_ITEMS) if g in item_genres[i]] for g in range(len(GENRES))}

out = Path(__file__).parent / "tiny"
out.mkdir(exist_ok=True)
with open(out / "tiny.item", "w") as f:
    f.write("item_id:token\tgenre:token_seq\n")
    for i in range(N_ITEMS):
        f.write(f"i{i}\t{' '.join(GENRES[g] for g in item_genres[i])}\n")
with open(out / "tiny.inter", "w") as f:
    f.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
    for u in range(N_USERS):
        length = int(rng.integers(22, 30))
        genre, seen, t = int(rng.integers(len(GENRES))), [], 1_000_000 + u * 1000
        while len(seen) < length:
            if rng.random() < 0.3:
                genre = int(rng.integers(len(GENRES)))
            choices = [i for i in by_genre[genre] if i not in seen] or [i for i in range(N_ITEMS) if i not in seen]
            seen.append(int(rng.choice(choices)))
        for item in seen:
            t += int(rng.integers(1, 50))
            f.write(f"u{u}\ti{item}\t{int(rng.integers(1, 6))}\t{t}\n")
